// plume-serve under concurrent load and at shutdown: 64 streams with random cancellations and
// deadlines (every stream ends with the right status, usage adds up, nothing leaks), and
// SIGTERM while streams are generating (they complete, the process exits 0).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>

#include "tests/e2e/serve_fixture.h"

namespace plume::testing {
namespace {

using ::testing::HasSubstr;

ServingShape SlowShape() { return {4, 4, 256, 512, 512}; }

std::vector<int32_t> Tokenize(v1::CompletionService::Stub* stub, const std::string& text) {
  grpc::ClientContext context;
  v1::TokenizeRequest request;
  request.set_text(text);
  v1::TokenizeResponse response;
  EXPECT_TRUE(stub->Tokenize(&context, request, &response).ok());
  return {response.token_ids().begin(), response.token_ids().end()};
}

// A stream that completed: its messages add up to its usage.
void ExpectComplete(const StreamOutcome& out, int max_tokens, int prompt_tokens,
                    const std::string& name) {
  ASSERT_TRUE(out.last.has_value()) << name;
  EXPECT_EQ(out.last->finish_reason(), v1::FINISH_REASON_LENGTH) << name;
  EXPECT_EQ(out.last->usage().completion_tokens(), max_tokens) << name;
  EXPECT_EQ(static_cast<int>(out.token_ids.size()), max_tokens) << name;
  EXPECT_EQ(out.last->usage().prompt_tokens(), prompt_tokens) << name;
  EXPECT_EQ(out.last->usage().total_tokens(), prompt_tokens + max_tokens) << name;
}

TEST(ServeLoadTest, SixtyFourStreamsWithCancellationsAndDeadlines) {
  TempDir tmp("serve_load");
  ServeProcess server(ServingCheckpoint(), {"--max_running", "8", "--max_waiting", "64"},
                      tmp / "serve.log");
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  auto channel = server.Channel();
  auto stub = v1::CompletionService::NewStub(channel);

  enum Kind { kNormal, kCancel, kDeadline };
  struct Plan {
    Kind kind;
    int max_tokens;
    int cancel_after = 0;   // messages before TryCancel
    int deadline_ms = 0;
    std::string prompt;
    int prompt_tokens = 0;
  };
  std::mt19937 rng(2024);
  std::vector<Plan> plans(64);
  for (int i = 0; i < 64; ++i) {
    Plan& p = plans[i];
    p.kind = static_cast<Kind>(rng() % 3);
    p.max_tokens = p.kind == kNormal ? 4 + static_cast<int>(rng() % 37) : 200;
    p.cancel_after = 1 + static_cast<int>(rng() % 3);
    p.deadline_ms = 20 + static_cast<int>(rng() % 380);
    p.prompt = absl::StrCat("Stream ", i, " of the city and the river");
    p.prompt_tokens = static_cast<int>(Tokenize(stub.get(), p.prompt).size());
  }

  std::vector<StreamOutcome> outcomes(64);
  std::vector<double> elapsed_ms(64);
  std::vector<std::thread> threads;
  for (int i = 0; i < 64; ++i) {
    threads.emplace_back([&, i] {
      const Plan& p = plans[i];
      v1::CompleteRequest request;
      request.set_text(p.prompt);
      request.set_max_tokens(p.max_tokens);
      request.mutable_sampling()->set_temperature(0.8f);
      request.mutable_sampling()->set_seed(i);
      request.mutable_stopping()->set_ignore_eos(true);
      grpc::ClientContext context;
      const auto start = std::chrono::system_clock::now();
      context.set_deadline(start + (p.kind == kDeadline ? std::chrono::milliseconds(p.deadline_ms)
                                                        : std::chrono::milliseconds(120000)));
      auto reader = stub->Complete(&context, request);
      outcomes[i] = ReadStream(reader.get(), [&](const StreamOutcome& so_far) {
        if (p.kind == kCancel && so_far.messages == p.cancel_after) context.TryCancel();
      });
      elapsed_ms[i] =
          std::chrono::duration<double, std::milli>(std::chrono::system_clock::now() - start)
              .count();
    });
  }
  for (auto& thread : threads) thread.join();

  int client_ok = 0, cancelled = 0, expired = 0;
  for (int i = 0; i < 64; ++i) {
    const Plan& p = plans[i];
    const StreamOutcome& out = outcomes[i];
    const std::string name = absl::StrCat("stream ", i, " kind ", p.kind, ": ",
                                          out.status.error_code(), " ", out.status.error_message());
    if (out.status.ok()) {
      // Normal streams, and cancels/deadlines that came after the stream had completed.
      ++client_ok;
      ExpectComplete(out, p.max_tokens, p.prompt_tokens, name);
      continue;
    }
    EXPECT_FALSE(out.last.has_value()) << name;
    EXPECT_LT(static_cast<int>(out.token_ids.size()), p.max_tokens) << name;
    switch (p.kind) {
      case kNormal:
        ADD_FAILURE() << name;
        break;
      case kCancel:
        EXPECT_EQ(out.status.error_code(), grpc::StatusCode::CANCELLED) << name;
        EXPECT_GE(out.messages, p.cancel_after) << name;
        ++cancelled;
        break;
      case kDeadline:
        EXPECT_EQ(out.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << name;
        EXPECT_GE(elapsed_ms[i], p.deadline_ms * 0.99) << name;
        ++expired;
        break;
    }
  }
  std::cout << "streams: ok=" << client_ok << " cancelled=" << cancelled
            << " deadline_exceeded=" << expired << "\n";

  // Everything returns to idle: no stream, slot or queue entry leaked.
  std::string metrics;
  ASSERT_TRUE(Eventually([&] {
    metrics = server.Metrics();
    return MetricValue(metrics, "plume_active_streams") == 0 &&
           MetricValue(metrics, "plume_running_sequences") == 0 &&
           MetricValue(metrics, "plume_queue_depth") == 0;
  })) << metrics;
  // Every call was counted once, with the status the server ended it with.
  EXPECT_EQ(MetricSum(metrics, "plume_requests_total", "method=\"Complete\""), 64);
  EXPECT_GE(MetricValue(metrics, R"(plume_requests_total{code="OK",method="Complete"})").value_or(0),
            client_ok);
  // Tokens add up: what the engine sampled = what it handed to streams (+1 for the warm-up
  // request) = the sum of the finished requests' usage.
  const double streamed = MetricValue(metrics, "plume_streamed_tokens_total").value_or(-1);
  EXPECT_EQ(MetricValue(metrics, "plume_generated_tokens_total"), streamed + 1);
  EXPECT_EQ(MetricValue(metrics, "plume_completion_tokens_total"), streamed);
  double client_tokens = 0;
  for (const StreamOutcome& out : outcomes) client_tokens += out.token_ids.size();
  EXPECT_LE(client_tokens, streamed);

  // All 8 slots are free again: 8 streams run at once and complete.
  std::vector<std::thread> again;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    again.emplace_back([&, i] {
      ok += Complete(stub.get(), GreedyRequest(absl::StrCat("again ", i), 16)).status.ok();
    });
  }
  for (auto& thread : again) thread.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(HealthStatus(channel), "SERVING");
}

// Streams that run while the server is told to stop.
struct Streams {
  explicit Streams(v1::CompletionService::Stub* stub, int count, int max_tokens)
      : outcomes(count) {
    for (int i = 0; i < count; ++i) {
      threads.emplace_back([this, stub, i, max_tokens] {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));
        auto reader = stub->Complete(
            &context, GreedyRequest(absl::StrCat("Drain stream ", i, " in winter"), max_tokens));
        outcomes[i] = ReadStream(reader.get(), [this](const StreamOutcome& so_far) {
          if (so_far.messages == 1) ++started;
          if (so_far.last.has_value()) ++finished;
        });
      });
    }
  }
  void Join() {
    for (auto& thread : threads) thread.join();
  }
  std::vector<StreamOutcome> outcomes;
  std::vector<std::thread> threads;
  std::atomic<int> started{0}, finished{0};
};

TEST(ServeShutdownTest, SigtermLetsSixteenActiveStreamsFinishThenExitsZero) {
  TempDir tmp("serve_sigterm");
  ServeProcess server(ServingCheckpoint(SlowShape()),
                      {"--max_running", "16", "--drain_grace_seconds", "120"}, tmp / "serve.log");
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  auto channel = server.Channel();
  auto stub = v1::CompletionService::NewStub(channel);
  constexpr int kMaxTokens = 400;
  Streams streams(stub.get(), 16, kMaxTokens);
  ASSERT_TRUE(Eventually([&] { return streams.started == 16; }, 120));
  ASSERT_TRUE(Eventually(
      [&] { return MetricValue(server.Metrics(), "plume_running_sequences") == 16; }, 60));
  const int finished_before = streams.finished;
  server.process().Signal(SIGTERM);
  EXPECT_EQ(finished_before, 0);  // all 16 were generating when the signal came

  // Draining: health says NOT_SERVING and new calls are refused.
  EXPECT_TRUE(Eventually([&] { return HealthStatus(channel) != "SERVING"; }));
  const StreamOutcome refused = Complete(stub.get(), GreedyRequest("too late", 4));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE);

  streams.Join();
  for (int i = 0; i < 16; ++i) {
    const StreamOutcome& out = streams.outcomes[i];
    ASSERT_TRUE(out.status.ok()) << i << ": " << out.status.error_message();
    ExpectComplete(out, kMaxTokens, out.last->usage().prompt_tokens(), absl::StrCat("stream ", i));
  }
  EXPECT_EQ(server.process().Wait(std::chrono::seconds(120)), 0) << server.Log();
  EXPECT_THAT(server.Log(), HasSubstr("draining"));
  EXPECT_THAT(server.Log(), HasSubstr("stopped"));
  EXPECT_THAT(server.Log(), ::testing::Not(HasSubstr("cut off")));
}

TEST(ServeShutdownTest, StreamsBeyondTheGracePeriodEndWithUnavailable) {
  TempDir tmp("serve_grace");
  ServeProcess server(ServingCheckpoint(SlowShape()), {"--drain_grace_seconds", "0.2"},
                      tmp / "serve.log");
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  auto stub = v1::CompletionService::NewStub(server.Channel());
  Streams streams(stub.get(), 4, 480);
  ASSERT_TRUE(Eventually([&] { return streams.started == 4; }, 120));
  server.process().Signal(SIGTERM);
  streams.Join();
  for (const StreamOutcome& out : streams.outcomes) {
    EXPECT_EQ(out.status.error_code(), grpc::StatusCode::UNAVAILABLE) << out.status.error_message();
    EXPECT_THAT(out.status.error_message(), HasSubstr("shut down before the completion finished"));
    EXPECT_GT(out.token_ids.size(), 0u);
    EXPECT_LT(out.token_ids.size(), 480u);
  }
  EXPECT_EQ(server.process().Wait(std::chrono::seconds(60)), 0) << server.Log();
  EXPECT_THAT(server.Log(), HasSubstr("4 streams cut off"));
}

}  // namespace
}  // namespace plume::testing
