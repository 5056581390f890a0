// plume-complete: streams a completion from plume-serve to stdout as it is generated.
//   plume-complete --server=HOST:PORT [sampling flags] "prompt"      ("-" reads stdin)
// Usage, the finish reason and timings go to stderr. Exit status: 0 on success, the gRPC status
// code (1..16, e.g. 3 = INVALID_ARGUMENT, 14 = UNAVAILABLE) on an RPC error, 64 on bad usage.
// API key: --api_key_file, or the PLUME_API_KEY environment variable (never a flag value, which
// would show in `ps`).
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/file_io.h"
#include "plume/v1/completion_service.grpc.pb.h"
#include "services/grpc_status.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "plume-serve address HOST:PORT");
ABSL_FLAG(std::optional<int>, max_tokens, std::nullopt, "completion tokens at most");
ABSL_FLAG(std::optional<float>, temperature, std::nullopt, "0 = greedy; default 1");
ABSL_FLAG(int, top_k, 0, "keep the k most likely tokens; 0 = off");
ABSL_FLAG(std::optional<float>, top_p, std::nullopt, "nucleus sampling mass in (0, 1]");
ABSL_FLAG(float, min_p, 0, "drop tokens below min_p x the top probability; 0 = off");
ABSL_FLAG(std::optional<float>, repetition_penalty, std::nullopt, "> 0; 1 = off");
ABSL_FLAG(float, presence_penalty, 0, "in [-2, 2]");
ABSL_FLAG(float, frequency_penalty, 0, "in [-2, 2]");
ABSL_FLAG(std::optional<uint64_t>, seed, std::nullopt, "random seed; unset = random");
ABSL_FLAG(std::vector<std::string>, stop, {}, "stop strings, comma-separated");
ABSL_FLAG(std::vector<std::string>, stop_token_ids, {}, "stop token ids, comma-separated");
ABSL_FLAG(int, min_tokens, 0, "ignore stops until this many tokens");
ABSL_FLAG(bool, ignore_eos, false, "do not stop at end-of-sequence");
ABSL_FLAG(bool, echo, false, "print the prompt before the completion");
ABSL_FLAG(bool, allow_special, false, "special-token text in the prompt becomes special tokens");
ABSL_FLAG(bool, truncate, false, "drop the oldest prompt tokens instead of failing when too long");
ABSL_FLAG(std::vector<std::string>, token_ids, {}, "prompt as token ids instead of text");
ABSL_FLAG(std::string, request_id, "", "request id for the server's logs");
ABSL_FLAG(int, logprobs, -1, "print each token's log probability and N alternatives to stderr "
                             "(-1 = off)");
ABSL_FLAG(double, timeout, 0, "deadline in seconds; 0 = none");
ABSL_FLAG(bool, tls, false, "use TLS (system roots unless --ca_cert)");
ABSL_FLAG(std::string, ca_cert, "", "PEM CA bundle to verify the server (implies --tls)");
ABSL_FLAG(std::string, client_cert, "", "PEM client certificate (mutual TLS)");
ABSL_FLAG(std::string, client_key, "", "PEM client private key (mutual TLS)");
ABSL_FLAG(std::string, tls_server_name, "", "expected server name in its certificate");
ABSL_FLAG(std::string, api_key_file, "", "file holding the API key (else $PLUME_API_KEY)");
ABSL_FLAG(bool, quiet, false, "no usage line on stderr");

namespace {

constexpr int kUsageError = 64;

int UsageError(absl::string_view message) {
  std::cerr << "plume-complete: " << message << "\n";
  return kUsageError;
}

std::optional<std::string> ReadOrFail(const std::string& path, int* code) {
  absl::StatusOr<std::string> text = plume::core::ReadFile(path);
  if (!text.ok()) {
    *code = UsageError(text.status().message());
    return std::nullopt;
  }
  return *text;
}

double Ms(const google::protobuf::Duration& d) { return d.seconds() * 1e3 + d.nanos() / 1e6; }

const char* FinishName(plume::v1::FinishReason reason) {
  switch (reason) {
    case plume::v1::FINISH_REASON_LENGTH: return "length";
    case plume::v1::FINISH_REASON_EOS: return "eos";
    case plume::v1::FINISH_REASON_STOP_STRING: return "stop_string";
    case plume::v1::FINISH_REASON_STOP_TOKEN: return "stop_token";
    default: return "unspecified";
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "plume-complete [--server HOST:PORT] [--max_tokens N] [--temperature T] ... \"prompt\" "
      "(\"-\" reads the prompt from stdin)");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  namespace v1 = plume::v1;

  v1::CompleteRequest request;
  const std::vector<std::string> token_ids = absl::GetFlag(FLAGS_token_ids);
  if (!token_ids.empty()) {
    if (args.size() > 1) return UsageError("give either a prompt or --token_ids, not both");
    for (const std::string& id : token_ids) {
      int32_t value;
      if (!absl::SimpleAtoi(id, &value)) return UsageError(absl::StrCat("bad token id '", id, "'"));
      request.mutable_token_ids()->add_ids(value);
    }
  } else {
    if (args.size() != 2) return UsageError("give one prompt argument (or - for stdin)");
    std::string prompt = args[1];
    if (prompt == "-") {
      prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    request.set_text(prompt);
  }
  if (auto v = absl::GetFlag(FLAGS_max_tokens)) request.set_max_tokens(*v);
  v1::SamplingParameters* sampling = request.mutable_sampling();
  if (auto v = absl::GetFlag(FLAGS_temperature)) sampling->set_temperature(*v);
  sampling->set_top_k(absl::GetFlag(FLAGS_top_k));
  if (auto v = absl::GetFlag(FLAGS_top_p)) sampling->set_top_p(*v);
  sampling->set_min_p(absl::GetFlag(FLAGS_min_p));
  if (auto v = absl::GetFlag(FLAGS_repetition_penalty)) sampling->set_repetition_penalty(*v);
  sampling->set_presence_penalty(absl::GetFlag(FLAGS_presence_penalty));
  sampling->set_frequency_penalty(absl::GetFlag(FLAGS_frequency_penalty));
  if (auto v = absl::GetFlag(FLAGS_seed)) sampling->set_seed(*v);
  v1::StoppingCriteria* stopping = request.mutable_stopping();
  for (const std::string& s : absl::GetFlag(FLAGS_stop)) stopping->add_stop(s);
  for (const std::string& id : absl::GetFlag(FLAGS_stop_token_ids)) {
    int32_t value;
    if (!absl::SimpleAtoi(id, &value)) return UsageError(absl::StrCat("bad stop token id '", id, "'"));
    stopping->add_stop_token_ids(value);
  }
  stopping->set_min_tokens(absl::GetFlag(FLAGS_min_tokens));
  stopping->set_ignore_eos(absl::GetFlag(FLAGS_ignore_eos));
  if (absl::GetFlag(FLAGS_logprobs) >= 0) {
    request.mutable_logprobs()->set_enabled(true);
    request.mutable_logprobs()->set_top_n(absl::GetFlag(FLAGS_logprobs));
  }
  request.set_echo(absl::GetFlag(FLAGS_echo));
  request.set_allow_special(absl::GetFlag(FLAGS_allow_special));
  if (absl::GetFlag(FLAGS_truncate)) request.set_truncation(v1::TRUNCATION_POLICY_DROP_OLDEST);
  request.set_request_id(absl::GetFlag(FLAGS_request_id));

  // --- The channel.
  int code = 0;
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments channel_args;
  const bool tls = absl::GetFlag(FLAGS_tls) || !absl::GetFlag(FLAGS_ca_cert).empty() ||
                   !absl::GetFlag(FLAGS_client_cert).empty();
  if (tls) {
    grpc::SslCredentialsOptions options;
    if (!absl::GetFlag(FLAGS_ca_cert).empty()) {
      auto pem = ReadOrFail(absl::GetFlag(FLAGS_ca_cert), &code);
      if (!pem) return code;
      options.pem_root_certs = *pem;
    }
    if (absl::GetFlag(FLAGS_client_cert).empty() != absl::GetFlag(FLAGS_client_key).empty()) {
      return UsageError("--client_cert and --client_key go together");
    }
    if (!absl::GetFlag(FLAGS_client_cert).empty()) {
      auto cert = ReadOrFail(absl::GetFlag(FLAGS_client_cert), &code);
      if (!cert) return code;
      auto key = ReadOrFail(absl::GetFlag(FLAGS_client_key), &code);
      if (!key) return code;
      options.pem_cert_chain = *cert;
      options.pem_private_key = *key;
    }
    credentials = grpc::SslCredentials(options);
    if (!absl::GetFlag(FLAGS_tls_server_name).empty()) {
      channel_args.SetSslTargetNameOverride(absl::GetFlag(FLAGS_tls_server_name));
    }
  }
  std::string api_key;
  if (!absl::GetFlag(FLAGS_api_key_file).empty()) {
    auto text = ReadOrFail(absl::GetFlag(FLAGS_api_key_file), &code);
    if (!text) return code;
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      if (!line.empty() && line.front() != '#') {
        api_key = std::string(line);
        break;
      }
    }
  } else if (const char* env = std::getenv("PLUME_API_KEY"); env != nullptr) {
    api_key = env;
  }
  auto channel = grpc::CreateCustomChannel(absl::GetFlag(FLAGS_server), credentials, channel_args);
  auto stub = v1::CompletionService::NewStub(channel);

  grpc::ClientContext context;
  if (!api_key.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", api_key));
  const auto start = std::chrono::steady_clock::now();
  if (absl::GetFlag(FLAGS_timeout) > 0) {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::microseconds(
                             static_cast<int64_t>(absl::GetFlag(FLAGS_timeout) * 1e6)));
  }
  std::unique_ptr<grpc::ClientReader<v1::CompleteResponse>> reader =
      stub->Complete(&context, request);
  v1::CompleteResponse response, last;
  std::optional<std::chrono::steady_clock::time_point> first_token;
  bool ends_with_newline = true;
  while (reader->Read(&response)) {
    if (!first_token && response.token_ids_size() > 0) first_token = std::chrono::steady_clock::now();
    if (!response.text().empty()) {
      std::fwrite(response.text().data(), 1, response.text().size(), stdout);
      std::fflush(stdout);
      ends_with_newline = response.text().back() == '\n';
    }
    for (const v1::GeneratedTokenLogprobs& entry : response.logprobs()) {
      std::string line = absl::StrFormat("logprob token=%d %.4f", entry.token().token_id(),
                                         entry.token().logprob());
      for (const v1::TokenLogprob& top : entry.top()) {
        absl::StrAppendFormat(&line, " %d:%.4f", top.token_id(), top.logprob());
      }
      std::cerr << line << "\n";
    }
    if (response.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) last = response;
  }
  const grpc::Status status = reader->Finish();
  const double elapsed_ms = std::chrono::duration<double, std::milli>(
                                std::chrono::steady_clock::now() - start).count();
  if (!ends_with_newline && isatty(STDOUT_FILENO)) std::fputc('\n', stdout);
  std::fflush(stdout);
  if (!status.ok()) {
    std::cerr << "plume-complete: " << plume::services::StatusCodeName(status.error_code())
              << ": " << status.error_message() << "\n";
    return static_cast<int>(status.error_code());
  }
  if (!absl::GetFlag(FLAGS_quiet)) {
    const v1::Usage& usage = last.usage();
    const double ttft_ms =
        first_token ? std::chrono::duration<double, std::milli>(*first_token - start).count() : 0;
    const double generation_s = (elapsed_ms - ttft_ms) / 1e3;
    std::string line = absl::StrFormat(
        "finish=%s prompt_tokens=%d completion_tokens=%d total_tokens=%d ttft_ms=%.1f "
        "total_ms=%.1f tokens_per_s=%.1f server_queue_ms=%.1f server_ttft_ms=%.1f "
        "server_total_ms=%.1f",
        FinishName(last.finish_reason()), usage.prompt_tokens(), usage.completion_tokens(),
        usage.total_tokens(), ttft_ms, elapsed_ms,
        usage.completion_tokens() > 1 && generation_s > 0
            ? (usage.completion_tokens() - 1) / generation_s
            : 0.0,
        Ms(last.timings().queue()), Ms(last.timings().time_to_first_token()),
        Ms(last.timings().total()));
    if (usage.truncated_prompt_tokens() > 0) {
      absl::StrAppend(&line, " truncated_prompt_tokens=", usage.truncated_prompt_tokens());
    }
    if (last.finish_reason() == v1::FINISH_REASON_STOP_STRING) {
      absl::StrAppend(&line, " stop_string=\"", absl::CHexEscape(last.stop_string()), "\"");
    }
    std::cerr << line << "\n";
  }
  return 0;
}
