// plume-serve end to end: the real server binary on loopback, called by a C++ client, by the
// plume-complete CLI and by a Python client generated from the .proto files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "core/utf8.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/serve_fixture.h"

namespace plume::testing {
namespace {

using ::testing::HasSubstr;

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    checkpoint_ = ServingCheckpoint();
    server_ = std::make_unique<ServeProcess>(checkpoint_, std::vector<std::string>{},
                                             tmp_ / "serve.log");
    ASSERT_TRUE(server_->WaitReady()) << server_->Log();
    stub_ = v1::CompletionService::NewStub(server_->Channel());
  }

  std::vector<int32_t> Tokenize(const std::string& text, bool allow_special = false) {
    grpc::ClientContext context;
    v1::TokenizeRequest request;
    request.set_text(text);
    request.set_allow_special(allow_special);
    v1::TokenizeResponse response;
    const grpc::Status status = stub_->Tokenize(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.token_ids().begin(), response.token_ids().end()};
  }
  std::string Detokenize(const std::vector<int32_t>& ids) {
    grpc::ClientContext context;
    v1::DetokenizeRequest request;
    request.mutable_token_ids()->Add(ids.begin(), ids.end());
    v1::DetokenizeResponse response;
    const grpc::Status status = stub_->Detokenize(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.text();
  }
  v1::GetModelInfoResponse ModelInfo() {
    grpc::ClientContext context;
    v1::GetModelInfoResponse response;
    EXPECT_TRUE(stub_->GetModelInfo(&context, {}, &response).ok());
    return response;
  }

  TempDir tmp_{"serve"};
  std::string checkpoint_;
  std::unique_ptr<ServeProcess> server_;
  std::unique_ptr<v1::CompletionService::Stub> stub_;
};

TEST_F(ServeTest, HealthReflectsTheLoadedModel) {
  EXPECT_EQ(HealthStatus(server_->Channel()), "SERVING");
  EXPECT_EQ(HealthStatus(server_->Channel(), "plume.v1.CompletionService"), "SERVING");
  // Unknown services are NOT_FOUND (grpc.health.v1 semantics).
  EXPECT_EQ(HealthStatus(server_->Channel(), "no.such.Service"),
            absl::StrCat("error ", grpc::StatusCode::NOT_FOUND));
}

TEST_F(ServeTest, ModelInfoDescribesTheCheckpoint) {
  const v1::GetModelInfoResponse info = ModelInfo();
  EXPECT_EQ(info.name(), std::filesystem::path(checkpoint_).filename().string());
  EXPECT_EQ(info.checkpoint(), checkpoint_);
  EXPECT_EQ(info.context_length(), 256);
  EXPECT_EQ(info.num_layers(), 2);
  EXPECT_EQ(info.embedding_size(), 64);
  EXPECT_GT(info.vocab_size(), 256);
  EXPECT_LE(info.vocab_size(), 512);
  // wte 512x64 + wpe 256x64 + 2 blocks of 12*64^2+13*64 + ln_f 128.
  EXPECT_EQ(info.parameter_count(), 512 * 64 + 256 * 64 + 2 * (12 * 64 * 64 + 13 * 64) + 128);
  EXPECT_EQ(info.limits().max_prompt_tokens(), 255);
  EXPECT_EQ(info.limits().max_new_tokens(), 1024);
  EXPECT_EQ(info.limits().default_max_tokens(), 128);
  EXPECT_EQ(info.limits().max_running_sequences(), 16);
  EXPECT_EQ(Tokenize("<|endoftext|>", /*allow_special=*/true),
            std::vector<int32_t>{info.eos_token_id()});
  EXPECT_GT(Tokenize("<|endoftext|>").size(), 1u);  // as plain text
}

TEST_F(ServeTest, TokenizeAndDetokenizeRoundTrip) {
  const std::string text = "The river and the stone, in winter light. \xE6\x97\xA5\xE6\x9C\xAC";
  const std::vector<int32_t> ids = Tokenize(text);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(Detokenize(ids), text);
}

TEST_F(ServeTest, StreamsAGreedyCompletion) {
  const std::string prompt = "The garden of the city";
  const std::vector<int32_t> prompt_ids = Tokenize(prompt);
  const int eos = ModelInfo().eos_token_id();
  v1::CompleteRequest request = GreedyRequest(prompt, 24);
  request.set_request_id("greedy-1");
  const StreamOutcome out = Complete(stub_.get(), request);
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  ASSERT_TRUE(out.first.has_value() && out.last.has_value());
  EXPECT_EQ(out.first->request_id(), "greedy-1");
  EXPECT_EQ(out.last->finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(out.token_ids.size(), 24u);
  EXPECT_EQ(out.last->usage().completion_tokens(), 24);
  EXPECT_EQ(out.last->usage().prompt_tokens(), static_cast<int>(prompt_ids.size()));
  EXPECT_EQ(out.last->usage().total_tokens(), 24 + static_cast<int>(prompt_ids.size()));
  EXPECT_GE(out.last->timings().total().seconds() * 1e9 + out.last->timings().total().nanos(),
            out.last->timings().time_to_first_token().seconds() * 1e9 +
                out.last->timings().time_to_first_token().nanos());
  // The streamed text is the decoded tokens (special tokens produce no text).
  std::vector<int32_t> text_ids;
  for (int32_t id : out.token_ids) {
    if (id != eos) text_ids.push_back(id);
  }
  EXPECT_EQ(out.text, Detokenize(text_ids));
  // Greedy decoding is deterministic.
  EXPECT_EQ(Complete(stub_.get(), request).token_ids, out.token_ids);
}

TEST_F(ServeTest, EveryMessageIsWholeUtf8) {
  // Sampling at a high temperature from a random model picks arbitrary byte tokens, many of
  // them parts of multi-byte characters.
  v1::CompleteRequest request;
  request.set_text("\xE6\x97\xA5\xE6\x9C\xAC and \xF0\x9F\x98\x80");
  request.set_max_tokens(120);
  request.mutable_sampling()->set_temperature(1.5);
  request.mutable_sampling()->set_seed(5);
  request.mutable_stopping()->set_ignore_eos(true);
  grpc::ClientContext context;
  auto reader = stub_->Complete(&context, request);
  v1::CompleteResponse response;
  int messages = 0;
  while (reader->Read(&response)) {
    ++messages;
    EXPECT_TRUE(core::IsValidUtf8(response.text())) << absl::CHexEscape(response.text());
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_GT(messages, 0);
}

TEST_F(ServeTest, SeedsMakeSamplingReproducible) {
  v1::CompleteRequest request;
  request.set_text("Winter morning");
  request.set_max_tokens(20);
  request.mutable_sampling()->set_temperature(0.9);
  request.mutable_sampling()->set_top_p(0.95);
  request.mutable_sampling()->set_seed(1234);
  const StreamOutcome a = Complete(stub_.get(), request);
  const StreamOutcome b = Complete(stub_.get(), request);
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  EXPECT_EQ(a.token_ids, b.token_ids);
  EXPECT_EQ(a.text, b.text);
}

TEST_F(ServeTest, StopStringEndsTheTextBeforeIt) {
  const StreamOutcome full = Complete(stub_.get(), GreedyRequest("The music of the water", 40));
  ASSERT_TRUE(full.status.ok());
  // A stop string taken from the middle of the greedy text.
  ASSERT_GT(full.text.size(), 12u) << full.text;
  size_t at = 6;
  while (at < full.text.size() && (full.text[at] & 0xC0) == 0x80) ++at;  // a character start
  const std::string stop = full.text.substr(at, 3);
  const size_t first = full.text.find(stop);
  v1::CompleteRequest request = GreedyRequest("The music of the water", 40);
  request.mutable_stopping()->add_stop(stop);
  const StreamOutcome out = Complete(stub_.get(), request);
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  ASSERT_TRUE(out.last.has_value());
  EXPECT_EQ(out.last->finish_reason(), v1::FINISH_REASON_STOP_STRING);
  EXPECT_EQ(out.last->stop_string(), stop);
  EXPECT_EQ(out.text, full.text.substr(0, first));
}

TEST_F(ServeTest, EchoAndLogprobs) {
  v1::CompleteRequest request = GreedyRequest("Silver letter", 6);
  request.set_echo(true);
  request.mutable_logprobs()->set_enabled(true);
  request.mutable_logprobs()->set_top_n(3);
  const StreamOutcome out = Complete(stub_.get(), request);
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_THAT(out.text, ::testing::StartsWith("Silver letter"));
  const std::vector<int32_t> prompt_ids = Tokenize("Silver letter");
  EXPECT_EQ(std::vector<int32_t>(out.first->prompt_token_ids().begin(),
                                 out.first->prompt_token_ids().end()),
            prompt_ids);
  // Re-read with the logprobs of every message.
  grpc::ClientContext context;
  auto reader = stub_->Complete(&context, request);
  v1::CompleteResponse response;
  std::vector<v1::GeneratedTokenLogprobs> logprobs;
  std::vector<int32_t> ids;
  while (reader->Read(&response)) {
    logprobs.insert(logprobs.end(), response.logprobs().begin(), response.logprobs().end());
    ids.insert(ids.end(), response.token_ids().begin(), response.token_ids().end());
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(logprobs.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(logprobs[i].token().token_id(), ids[i]);
    EXPECT_LE(logprobs[i].token().logprob(), 0.0f);
    ASSERT_EQ(logprobs[i].top_size(), 3);
    // Greedy: the chosen token is the most likely one.
    EXPECT_EQ(logprobs[i].top(0).token_id(), ids[i]);
    EXPECT_GE(logprobs[i].top(0).logprob(), logprobs[i].top(1).logprob());
  }
}

TEST_F(ServeTest, DropOldestTruncatesLongPrompts) {
  v1::CompleteRequest request;
  for (int i = 0; i < 300; ++i) request.mutable_token_ids()->add_ids(100 + i % 50);
  request.set_max_tokens(16);
  request.set_truncation(v1::TRUNCATION_POLICY_DROP_OLDEST);
  request.mutable_stopping()->set_ignore_eos(true);
  const StreamOutcome out = Complete(stub_.get(), request);
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_EQ(out.last->usage().truncated_prompt_tokens(), 300 - (256 - 16));
  EXPECT_EQ(out.last->usage().prompt_tokens(), 256 - 16);
  EXPECT_EQ(out.last->usage().completion_tokens(), 16);
}

TEST_F(ServeTest, LogsOneLinePerRequestWithoutThePrompt) {
  v1::CompleteRequest request = GreedyRequest("a secret prompt text", 4);
  request.set_request_id("log-check-7");
  ASSERT_TRUE(Complete(stub_.get(), request).status.ok());
  ASSERT_TRUE(Eventually([&] { return absl::StrContains(server_->Log(), "id=log-check-7"); }));
  const std::string log = server_->Log();
  EXPECT_THAT(log, HasSubstr("request id=log-check-7 method=Complete code=OK"));
  EXPECT_THAT(log, HasSubstr("completion_tokens=4 finish=length"));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("secret prompt")));
}

// Reads a whole file (empty if missing).
std::string Slurp(const std::string& path) {
  absl::StatusOr<std::string> text = core::ReadFile(path);
  return text.ok() ? *text : "";
}

TEST_F(ServeTest, PlumeCompleteStreamsToStdout) {
  const StreamOutcome expected = Complete(stub_.get(), GreedyRequest("The city in winter", 16));
  ASSERT_TRUE(expected.status.ok());
  const std::string out = tmp_ / "out.txt", err = tmp_ / "err.txt";
  const int code = RunCommand(absl::StrCat("(", kCompleteBinary, " --server=", server_->address,
                                           " --temperature 0 --max_tokens 16 --ignore_eos",
                                           " 'The city in winter' >", out, " 2>", err, ")"))
                       .exit_code;
  ASSERT_EQ(code, 0) << Slurp(err);
  EXPECT_EQ(Slurp(out), expected.text);
  EXPECT_THAT(Slurp(err), HasSubstr("finish=length"));
  EXPECT_THAT(Slurp(err), HasSubstr("completion_tokens=16"));
  EXPECT_THAT(Slurp(err), HasSubstr("ttft_ms="));

  // The prompt from stdin, with echo.
  ASSERT_EQ(RunCommand(absl::StrCat("(printf 'The city in winter' | ", kCompleteBinary,
                                    " --server=", server_->address,
                                    " --temperature 0 --max_tokens 16 --ignore_eos --echo --quiet - >",
                                    out, " 2>", err, ")"))
                .exit_code,
            0)
      << Slurp(err);
  EXPECT_EQ(Slurp(out), "The city in winter" + expected.text);
  EXPECT_EQ(Slurp(err), "");

  // Errors: the status name on stderr and its code as the exit status.
  const CommandResult bad = RunCommand(absl::StrCat(kCompleteBinary, " --server=", server_->address,
                                                    " --top_p 2 hello"));
  EXPECT_EQ(bad.exit_code, static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(bad.output, HasSubstr("INVALID_ARGUMENT: sampling.top_p must be in (0, 1]"));
  const CommandResult usage = RunCommand(kCompleteBinary + " --server=" + server_->address);
  EXPECT_EQ(usage.exit_code, 64);
}

TEST_F(ServeTest, PlumeCompleteReportsAnUnreachableServer) {
  // A port that was free a moment ago.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  const CommandResult result = RunCommand(
      absl::StrCat(kCompleteBinary, " --server=127.0.0.1:", port, " --timeout 10 hello"));
  EXPECT_EQ(result.exit_code, static_cast<int>(grpc::StatusCode::UNAVAILABLE)) << result.output;
  EXPECT_THAT(result.output, HasSubstr("UNAVAILABLE"));
}

TEST_F(ServeTest, PythonClientGeneratedFromTheProto) {
  // Another language: Debian's python3-grpcio with code generated by protoc and
  // grpc_python_plugin from the repository's .proto files (and grpc-proto's health and
  // reflection definitions).
  const std::string gen = tmp_ / "gen";
  std::filesystem::create_directories(gen);
  // The health and reflection definitions are copied to top-level modules: a generated
  // grpc/health/... package would be shadowed by the installed `grpc` package.
  for (const char* proto : {"grpc/health/v1/health.proto", "grpc/reflection/v1alpha/reflection.proto"}) {
    std::filesystem::copy_file(std::string("/usr/share/grpc-proto/") + proto,
                               gen + "/" + std::filesystem::path(proto).filename().string());
  }
  const std::string protoc = absl::StrCat(
      "protoc --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin -I ", PLUME_SOURCE_DIR,
      "/proto -I ", gen, " -I /usr/include --python_out=", gen, " --grpc_python_out=", gen, " ");
  for (const char* proto : {"plume/v1/completion.proto", "plume/v1/completion_service.proto",
                            "health.proto", "reflection.proto"}) {
    const CommandResult generated = RunCommand(protoc + proto);
    ASSERT_EQ(generated.exit_code, 0) << generated.output;
  }
  const CommandResult run = RunCommand(absl::StrCat(
      "PYTHONPATH=", gen, " ", kDebianPython, " ", PLUME_SOURCE_DIR,
      "/tests/e2e/serve_python_client.py ", server_->address, " 2>", tmp_ / "py_err.txt"));
  ASSERT_EQ(run.exit_code, 0) << run.output << Slurp(tmp_ / "py_err.txt");
  const nlohmann::json report = nlohmann::json::parse(run.output);

  EXPECT_EQ(report["health"], "SERVING");
  std::vector<std::string> services = report["services"];
  EXPECT_THAT(services, ::testing::IsSupersetOf({"plume.v1.CompletionService",
                                                 "grpc.health.v1.Health"}));
  EXPECT_TRUE(report["reflection_has_complete"].get<bool>());
  EXPECT_EQ(report["model_name"], ModelInfo().name());
  EXPECT_EQ(report["tokenize"].get<std::vector<int32_t>>(), Tokenize("Hello river"));
  EXPECT_EQ(report["detokenized"], "Hello river");
  // The same greedy completion as the C++ client's.
  const StreamOutcome cpp = Complete(stub_.get(), GreedyRequest("The river and the stone", 12));
  EXPECT_EQ(report["completion_ids"].get<std::vector<int32_t>>(), cpp.token_ids);
  EXPECT_EQ(report["completion_text"], cpp.text);
  EXPECT_EQ(report["finish_reason"], "FINISH_REASON_LENGTH");
  EXPECT_EQ(report["completion_tokens"], 12);
  EXPECT_EQ(report["error_code"], "INVALID_ARGUMENT");
  EXPECT_THAT(report["error_message"].get<std::string>(), HasSubstr("max_tokens"));
}

// engine.weights: bfloat16 serves the same checkpoint with a rounded copy of the weights. The
// logits move by at most 2e-2 (core_model_test), so greedy decoding mostly agrees with float32;
// and a bad value stops the server with the key named.
TEST_F(ServeTest, Bf16WeightsServeTheSameModel) {
  ServeProcess bf16(checkpoint_, {"--weights", "bfloat16"}, tmp_ / "bf16.log");
  ASSERT_TRUE(bf16.WaitReady()) << bf16.Log();
  auto bf16_stub = v1::CompletionService::NewStub(bf16.Channel());
  const v1::CompleteRequest request = GreedyRequest("The river and the stone", 16);
  const StreamOutcome f32_out = Complete(stub_.get(), request);
  const StreamOutcome bf16_out = Complete(bf16_stub.get(), request);
  ASSERT_TRUE(bf16_out.status.ok()) << bf16_out.status.error_message();
  ASSERT_EQ(bf16_out.token_ids.size(), 16u);
  EXPECT_EQ(bf16_out.last->finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(bf16_out.token_ids.front(), f32_out.token_ids.front())
      << "rounding moves the logits by far less than the top two of this checkpoint differ";

  ServeProcess bad(checkpoint_, {"--weights", "int4"}, tmp_ / "bad-weights.log");
  EXPECT_EQ(bad.process().Wait(std::chrono::seconds(60)), 1);
  EXPECT_THAT(bad.Log(), HasSubstr("engine.weights=int4 must be float32 or bfloat16"));
}

}  // namespace
}  // namespace plume::testing
