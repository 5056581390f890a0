// Fixtures for plume-serve end-to-end tests: a servable checkpoint (random weights from the real
// plume-model binary plus a BPE tokenizer trained on a generated corpus), the real plume-serve
// process on an ephemeral loopback port, and small client helpers (streaming, health, /metrics).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/file_io.h"
#include "core/tokenizer.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "plume/v1/completion_service.grpc.pb.h"
#include "tests/e2e/train_fixture.h"
#include "tests/subprocess.h"
#include "tests/test_util.h"

namespace plume::testing {

inline const std::string kServeBinary = std::string(PLUME_BINARY_DIR) + "/services/plume-serve";
inline const std::string kCompleteBinary =
    std::string(PLUME_BINARY_DIR) + "/services/plume-complete";
inline const std::string kModelBinary = std::string(PLUME_BINARY_DIR) + "/core/plume-model";

struct ServingShape {
  int n_layer = 2;
  int n_head = 2;
  int n_embd = 64;
  int n_positions = 256;
  int vocab_size = 512;  // the tokenizer is trained to at most this many tokens
};

// A checkpoint directory of `shape`, created once per build tree (under build/tests/fixtures)
// and shared by the tests: atomically renamed into place, so concurrent tests never see half.
inline std::string ServingCheckpoint(const ServingShape& shape = {}) {
  namespace fs = std::filesystem;
  const std::string dir = absl::StrCat(PLUME_BINARY_DIR, "/tests/fixtures/serve-L", shape.n_layer,
                                       "-H", shape.n_head, "-C", shape.n_embd, "-P",
                                       shape.n_positions, "-V", shape.vocab_size);
  if (fs::exists(dir + "/vocab.json")) return dir;
  fs::create_directories(fs::path(dir).parent_path());
  const std::string tmp = absl::StrCat(dir, ".tmp-", ::getpid());
  fs::remove_all(tmp);
  const std::string yaml = tmp + ".yaml";
  EXPECT_TRUE(core::WriteFileDurably(
                  yaml, absl::StrCat("n_layer: ", shape.n_layer, "\nn_head: ", shape.n_head,
                                     "\nn_embd: ", shape.n_embd, "\nn_positions: ",
                                     shape.n_positions, "\nvocab_size: ", shape.vocab_size, "\n"))
                  .ok());
  const CommandResult made =
      RunCommand(absl::StrCat(kModelBinary, " init --threads 1 --seed 7 --config ", yaml, " --out ", tmp));
  EXPECT_EQ(made.exit_code, 0) << made.output;
  fs::remove(yaml);
  core::BpeTrainerOptions options;
  options.vocab_size = shape.vocab_size;
  options.threads = 1;
  absl::StatusOr<core::Tokenizer> tokenizer = core::TrainBpe({GeneratedCorpus(400)}, options);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_TRUE(tokenizer->SaveToDirectory(tmp).ok());
  std::error_code error;
  fs::rename(tmp, dir, error);  // another test may have won the race: use its directory
  if (error) fs::remove_all(tmp);
  return dir;
}

// GET http://address/path -> (status code, body); status 0 when the request failed.
inline std::pair<int, std::string> HttpGet(const std::string& address, const std::string& path) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port)) return {0, ""};
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return {0, ""};
  }
  const std::string request = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", address, "\r\n\r\n");
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, n);
  ::close(fd);
  int code = 0;
  if (response.size() > 12) absl::SimpleAtoi(response.substr(9, 3), &code);
  const size_t body = response.find("\r\n\r\n");
  return {code, body == std::string::npos ? "" : response.substr(body + 4)};
}

// The value of the series `name` (with its labels exactly as rendered, e.g.
// `plume_requests_total{code="OK",method="Complete"}`) in a /metrics body; nullopt if absent.
inline std::optional<double> MetricValue(const std::string& body, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ")) {
      double value;
      if (absl::SimpleAtod(line, &value)) return value;
    }
  }
  return std::nullopt;
}

// Sum over every series of family `name` whose labels contain `label_filter` (e.g.
// `method="Complete"`).
inline double MetricSum(const std::string& body, const std::string& name,
                        const std::string& label_filter = "") {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (!absl::StartsWith(line, name + "{") && !absl::StartsWith(line, name + " ")) continue;
    if (!label_filter.empty() && !absl::StrContains(line, label_filter)) continue;
    double value;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) sum += value;
  }
  return sum;
}

// The real plume-serve on 127.0.0.1 with ephemeral gRPC and metrics ports.
class ServeProcess {
 public:
  ServeProcess(const std::string& checkpoint, const std::vector<std::string>& extra_args,
               const std::string& log_path)
      : log_path_(log_path) {
    std::vector<std::string> argv = {kServeBinary,          "--checkpoint", checkpoint,
                                     "--listen",            "127.0.0.1:0",  "--metrics_listen",
                                     "127.0.0.1:0",         "--threads",    "1"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    process_ = std::make_unique<Subprocess>(argv, log_path);
  }

  // Waits for "listening on HOST:PORT" (false if the process exits or 120 s pass).
  bool WaitReady() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    static const std::regex kListening("listening on (\\S+)");
    static const std::regex kMetrics("metrics on http://(\\S+)/metrics");
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string log = process_->Log();
      std::smatch match;
      if (std::regex_search(log, match, kListening)) {
        address = match[1];
        if (std::regex_search(log, match, kMetrics)) metrics_address = match[1];
        return true;
      }
      if (!process_->Running()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  }
  std::string Metrics() const { return HttpGet(metrics_address, "/metrics").second; }
  std::string Log() const { return process_->Log(); }
  Subprocess& process() { return *process_; }

  std::string address;          // HOST:PORT of gRPC
  std::string metrics_address;  // HOST:PORT of /metrics

 private:
  std::string log_path_;
  std::unique_ptr<Subprocess> process_;
};

// grpc.health.v1 Check of `service` ("" = the whole server): "SERVING", "NOT_SERVING", or the
// error code's number when the call fails.
inline std::string HealthStatus(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service = "") {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return absl::StrCat("error ", status.error_code());
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

// One Complete stream as the client saw it.
struct StreamOutcome {
  grpc::Status status;
  std::string text;                 // concatenated text
  std::vector<int32_t> token_ids;   // concatenated token ids
  int messages = 0;
  std::optional<v1::CompleteResponse> first, last;  // last = the one with a finish reason
};

inline StreamOutcome ReadStream(grpc::ClientReader<v1::CompleteResponse>* reader,
                                const std::function<void(const StreamOutcome&)>& on_message = nullptr) {
  StreamOutcome outcome;
  v1::CompleteResponse response;
  while (reader->Read(&response)) {
    ++outcome.messages;
    if (!outcome.first) outcome.first = response;
    outcome.text += response.text();
    outcome.token_ids.insert(outcome.token_ids.end(), response.token_ids().begin(),
                             response.token_ids().end());
    if (response.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) outcome.last = response;
    if (on_message) on_message(outcome);
  }
  outcome.status = reader->Finish();
  return outcome;
}

inline StreamOutcome Complete(v1::CompletionService::Stub* stub, const v1::CompleteRequest& request,
                              grpc::ClientContext* context = nullptr) {
  grpc::ClientContext local;
  if (context == nullptr) {
    local.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    context = &local;
  }
  auto reader = stub->Complete(context, request);
  return ReadStream(reader.get());
}

inline v1::CompleteRequest GreedyRequest(const std::string& prompt, int max_tokens) {
  v1::CompleteRequest request;
  request.set_text(prompt);
  request.set_max_tokens(max_tokens);
  request.mutable_sampling()->set_temperature(0);
  request.mutable_stopping()->set_ignore_eos(true);
  return request;
}

// Polls `predicate` every 20 ms for at most `seconds`; true once it holds.
inline bool Eventually(const std::function<bool()>& predicate, int seconds = 30) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return predicate();
}

}  // namespace plume::testing
