// plume-serve's failure semantics: a battery of bad requests with their expected status codes
// (and the field named in the message), rejected before any engine work while the server stays
// healthy; queue overflow, deadlines and cancellation on a model slow enough to observe them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <future>
#include <limits>

#include <grpcpp/generic/generic_stub.h>

#include "tests/e2e/serve_fixture.h"

namespace plume::testing {
namespace {

using ::testing::HasSubstr;

// A model that takes seconds for a few hundred tokens on this machine class, so that a stream
// is reliably still generating when the test acts on it.
ServingShape SlowShape() { return {4, 4, 256, 512, 512}; }

struct BadRequest {
  std::string name;
  std::function<void(v1::CompleteRequest&)> mutate;
  grpc::StatusCode code;
  std::string message;  // expected substring (names the field)
};

std::vector<BadRequest> Battery() {
  using C = grpc::StatusCode;
  const C kInvalid = C::INVALID_ARGUMENT;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  return {
      {"no prompt", [](auto& r) { r.clear_prompt(); }, kInvalid, "prompt is not set"},
      {"empty text", [](auto& r) { r.set_text(""); }, kInvalid, "text must not be empty"},
      {"empty token ids", [](auto& r) { r.mutable_token_ids(); }, kInvalid,
       "token_ids.ids must not be empty"},
      {"negative token id", [](auto& r) { r.mutable_token_ids()->add_ids(-1); }, kInvalid,
       "token_ids.ids[0]=-1 is outside the vocabulary"},
      {"token id past the vocabulary",
       [](auto& r) {
         r.mutable_token_ids()->add_ids(5);
         r.mutable_token_ids()->add_ids(100000);
       },
       kInvalid, "token_ids.ids[1]=100000"},
      {"max_tokens 0", [](auto& r) { r.set_max_tokens(0); }, kInvalid, "max_tokens must be >= 1"},
      {"max_tokens negative", [](auto& r) { r.set_max_tokens(-5); }, kInvalid, "max_tokens"},
      {"max_tokens above the limit", [](auto& r) { r.set_max_tokens(65); }, kInvalid,
       "max_tokens=65 exceeds the server's limit max_new_tokens=64"},
      {"negative temperature", [](auto& r) { r.mutable_sampling()->set_temperature(-1); },
       kInvalid, "sampling.temperature"},
      {"NaN temperature", [=](auto& r) { r.mutable_sampling()->set_temperature(nan); }, kInvalid,
       "sampling.temperature"},
      {"infinite temperature", [=](auto& r) { r.mutable_sampling()->set_temperature(inf); },
       kInvalid, "sampling.temperature"},
      {"negative top_k", [](auto& r) { r.mutable_sampling()->set_top_k(-1); }, kInvalid,
       "sampling.top_k"},
      {"top_p 0", [](auto& r) { r.mutable_sampling()->set_top_p(0); }, kInvalid,
       "sampling.top_p must be in (0, 1]"},
      {"top_p above 1", [](auto& r) { r.mutable_sampling()->set_top_p(1.5); }, kInvalid,
       "sampling.top_p"},
      {"NaN top_p", [=](auto& r) { r.mutable_sampling()->set_top_p(nan); }, kInvalid,
       "sampling.top_p"},
      {"negative min_p", [](auto& r) { r.mutable_sampling()->set_min_p(-0.1f); }, kInvalid,
       "sampling.min_p"},
      {"min_p above 1", [](auto& r) { r.mutable_sampling()->set_min_p(1.5f); }, kInvalid,
       "sampling.min_p"},
      {"repetition_penalty 0", [](auto& r) { r.mutable_sampling()->set_repetition_penalty(0); },
       kInvalid, "sampling.repetition_penalty"},
      {"negative repetition_penalty",
       [](auto& r) { r.mutable_sampling()->set_repetition_penalty(-1); }, kInvalid,
       "sampling.repetition_penalty"},
      {"presence_penalty 3", [](auto& r) { r.mutable_sampling()->set_presence_penalty(3); },
       kInvalid, "sampling.presence_penalty"},
      {"frequency_penalty -2.5",
       [](auto& r) { r.mutable_sampling()->set_frequency_penalty(-2.5f); }, kInvalid,
       "sampling.frequency_penalty"},
      {"logit bias 150", [](auto& r) { (*r.mutable_sampling()->mutable_logit_bias())[7] = 150; },
       kInvalid, "sampling.logit_bias for token 7"},
      {"logit bias on token -1",
       [](auto& r) { (*r.mutable_sampling()->mutable_logit_bias())[-1] = 1; }, kInvalid,
       "sampling.logit_bias token -1 is outside the vocabulary"},
      {"logit bias past the vocabulary",
       [](auto& r) { (*r.mutable_sampling()->mutable_logit_bias())[9999] = 1; }, kInvalid,
       "sampling.logit_bias token 9999"},
      {"1025 logit biases",
       [](auto& r) {
         for (int i = 0; i < 1025; ++i) (*r.mutable_sampling()->mutable_logit_bias())[i] = 1;
       },
       kInvalid, "sampling.logit_bias must be at most 1024 entries"},
      {"empty stop string", [](auto& r) { r.mutable_stopping()->add_stop(""); }, kInvalid,
       "stopping.stop[0] must not be empty"},
      {"300-byte stop string",
       [](auto& r) {
         r.mutable_stopping()->add_stop("ok");
         r.mutable_stopping()->add_stop(std::string(300, 'x'));
       },
       kInvalid, "stopping.stop[1] must be at most 256 bytes"},
      {"17 stop strings",
       [](auto& r) {
         for (int i = 0; i < 17; ++i) r.mutable_stopping()->add_stop(absl::StrCat("s", i));
       },
       kInvalid, "stopping.stop must be at most 16 strings"},
      {"stop token past the vocabulary",
       [](auto& r) { r.mutable_stopping()->add_stop_token_ids(70000); }, kInvalid,
       "stopping.stop_token_ids token 70000"},
      {"65 stop tokens",
       [](auto& r) {
         for (int i = 0; i < 65; ++i) r.mutable_stopping()->add_stop_token_ids(i);
       },
       kInvalid, "stopping.stop_token_ids must be at most 64 entries"},
      {"negative min_tokens", [](auto& r) { r.mutable_stopping()->set_min_tokens(-1); }, kInvalid,
       "stopping.min_tokens"},
      {"min_tokens above max_tokens", [](auto& r) { r.mutable_stopping()->set_min_tokens(5); },
       kInvalid, "stopping.min_tokens must be in [0, max_tokens=4]"},
      {"21 top logprobs",
       [](auto& r) {
         r.mutable_logprobs()->set_enabled(true);
         r.mutable_logprobs()->set_top_n(21);
       },
       kInvalid, "logprobs.top_n must be in [0, 20]"},
      {"negative top logprobs",
       [](auto& r) {
         r.mutable_logprobs()->set_enabled(true);
         r.mutable_logprobs()->set_top_n(-1);
       },
       kInvalid, "logprobs.top_n"},
      {"top logprobs without logprobs", [](auto& r) { r.mutable_logprobs()->set_top_n(3); },
       kInvalid, "logprobs.top_n=3 needs logprobs.enabled"},
      {"unknown truncation policy",
       [](auto& r) { r.set_truncation(static_cast<v1::TruncationPolicy>(7)); }, kInvalid,
       "truncation has the unknown value 7"},
      {"request id with spaces", [](auto& r) { r.set_request_id("my id"); }, kInvalid,
       "request_id must be"},
      {"200-character request id", [](auto& r) { r.set_request_id(std::string(200, 'a')); },
       kInvalid, "request_id must be"},
      {"prompt longer than the context",
       [](auto& r) {
         for (int i = 0; i < 600; ++i) r.mutable_token_ids()->add_ids(10 + i % 100);
       },
       kInvalid, "prompt has 600 tokens but at most 100 are accepted (context 512"},
      {"prompt longer than max_prompt_tokens",
       [](auto& r) {
         for (int i = 0; i < 101; ++i) r.mutable_token_ids()->add_ids(10 + i % 100);
       },
       kInvalid, "prompt has 101 tokens but at most 100"},
      {"request above max_request_bytes", [](auto& r) { r.set_text(std::string(70000, 'a')); },
       C::RESOURCE_EXHAUSTED, "larger than max"},
  };
}

class ServeErrorsTest : public ::testing::Test {
 protected:
  void StartServer(const std::vector<std::string>& args) {
    server_ = std::make_unique<ServeProcess>(ServingCheckpoint(SlowShape()), args,
                                             tmp_ / "serve.log");
    ASSERT_TRUE(server_->WaitReady()) << server_->Log();
    stub_ = v1::CompletionService::NewStub(server_->Channel());
  }
  double Metric(const std::string& series) {
    return MetricValue(server_->Metrics(), series).value_or(-1);
  }
  // A raw call with `payload` as the request bytes (not necessarily a valid message).
  grpc::Status RawCall(const std::string& method, const std::string& payload) {
    grpc::GenericStub generic(server_->Channel());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Slice slice(payload);
    grpc::ByteBuffer request(&slice, 1), response;
    std::promise<grpc::Status> done;
    generic.UnaryCall(&context, method, {}, &request, &response,
                      [&done](grpc::Status status) { done.set_value(status); });
    return done.get_future().get();
  }

  TempDir tmp_{"serve_errors"};
  std::unique_ptr<ServeProcess> server_;
  std::unique_ptr<v1::CompletionService::Stub> stub_;
};

TEST_F(ServeErrorsTest, BadRequestsGetTheirStatusAndTheServerKeepsServing) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--max_prompt_tokens", "100", "--max_new_tokens", "64",
                                       "--max_request_bytes", "65536"}));
  const double steps_before = Metric("plume_engine_steps_total");
  const std::vector<BadRequest> battery = Battery();
  int invalid = 0;
  for (const BadRequest& bad : battery) {
    v1::CompleteRequest request;
    request.set_text("Hello river");
    request.set_max_tokens(4);
    bad.mutate(request);
    const StreamOutcome out = Complete(stub_.get(), request);
    EXPECT_EQ(out.status.error_code(), bad.code) << bad.name << ": " << out.status.error_message();
    EXPECT_THAT(out.status.error_message(), HasSubstr(bad.message)) << bad.name;
    EXPECT_EQ(out.messages, 0) << bad.name;
    invalid += bad.code == grpc::StatusCode::INVALID_ARGUMENT;
  }

  // The other methods.
  auto unary = [&](auto call) {
    grpc::ClientContext context;
    return call(&context);
  };
  v1::TokenizeResponse tokenized;
  v1::TokenizeRequest huge_text;
  huge_text.set_text(std::string(70000, 'b'));
  const grpc::Status too_big = unary(
      [&](grpc::ClientContext* c) { return stub_->Tokenize(c, huge_text, &tokenized); });
  EXPECT_EQ(too_big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << too_big.error_message();
  v1::DetokenizeResponse detokenized;
  v1::DetokenizeRequest negative, past_end;
  negative.add_token_ids(-3);
  past_end.add_token_ids(1);
  past_end.add_token_ids(2);
  past_end.add_token_ids(512);
  for (const auto& [request, field] :
       {std::pair{negative, "token_ids[0]=-3"}, std::pair{past_end, "token_ids[2]=512"}}) {
    const grpc::Status status = unary(
        [&](grpc::ClientContext* c) { return stub_->Detokenize(c, request, &detokenized); });
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr(field));
  }
  // Bytes that do not parse as the request message never reach Plume: gRPC 1.51's callback
  // API ends such calls with UNIMPLEMENTED (server_callback_handlers.h), whatever the method.
  EXPECT_EQ(RawCall("/plume.v1.CompletionService/Complete", "\xff\xff\xff\xff garbage").error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  // Field 1 (text) with invalid UTF-8, which proto3 strings forbid.
  EXPECT_EQ(RawCall("/plume.v1.CompletionService/Tokenize", std::string("\x0a\x02\xc3\x28", 4))
                .error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(RawCall("/plume.v1.CompletionService/Summarize", "").error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(HealthStatus(server_->Channel(), "plume.v1.NoSuchService"),
            absl::StrCat("error ", grpc::StatusCode::NOT_FOUND));
  const int total = static_cast<int>(battery.size()) + 8;
  std::cout << "bad requests checked: " << total << "\n";
  EXPECT_GE(total, 40);

  // None of them ran the model; the server is healthy and serves.
  const std::string metrics = server_->Metrics();
  EXPECT_EQ(MetricValue(metrics, "plume_engine_steps_total"), steps_before);
  EXPECT_EQ(MetricValue(metrics, R"(plume_requests_total{code="INVALID_ARGUMENT",method="Complete"})"),
            invalid);
  EXPECT_EQ(HealthStatus(server_->Channel()), "SERVING");
  const StreamOutcome good = Complete(stub_.get(), GreedyRequest("Hello river", 8));
  ASSERT_TRUE(good.status.ok()) << good.status.error_message();
  EXPECT_EQ(good.token_ids.size(), 8u);
  EXPECT_TRUE(server_->process().Running());
}

TEST_F(ServeErrorsTest, FullQueueIsRejectedAtOnceAndCancelFreesTheSlot) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer({"--max_running", "1", "--max_waiting", "0", "--max_step_tokens", "64"}));
  // One long stream holds the only slot.
  grpc::ClientContext long_context;
  auto long_stream = stub_->Complete(&long_context, GreedyRequest("The long one", 500));
  v1::CompleteResponse first;
  ASSERT_TRUE(long_stream->Read(&first));

  const StreamOutcome rejected = Complete(stub_.get(), GreedyRequest("Another", 4));
  EXPECT_EQ(rejected.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << rejected.status.error_message();
  EXPECT_THAT(rejected.status.error_message(), HasSubstr("engine is full"));
  EXPECT_EQ(rejected.messages, 0);

  // Cancelling the long stream frees the slot: the engine drops the sequence.
  long_context.TryCancel();
  while (long_stream->Read(&first)) {
  }
  EXPECT_EQ(long_stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(Eventually([&] { return Metric("plume_running_sequences") == 0; }));
  const StreamOutcome after = Complete(stub_.get(), GreedyRequest("Another", 4));
  EXPECT_TRUE(after.status.ok()) << after.status.error_message();
  // The cancelled stream generated far fewer than its 500 tokens.
  ASSERT_TRUE(Eventually([&] { return absl::StrContains(server_->Log(), "code=CANCELLED"); }));
  const std::string log = server_->Log();
  std::smatch match;
  ASSERT_TRUE(std::regex_search(log, match, std::regex("code=CANCELLED.*completion_tokens=(\\d+)")))
      << log;
  EXPECT_LT(std::stoi(match[1]), 500);
}

TEST_F(ServeErrorsTest, DeadlineEndsTheStreamAndDropsTheSequence) {
  ASSERT_NO_FATAL_FAILURE(StartServer({}));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  v1::CompleteRequest request = GreedyRequest("Slow", 500);
  request.set_request_id("deadline-1");
  const StreamOutcome out = Complete(stub_.get(), request, &context);
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ASSERT_TRUE(Eventually([&] { return Metric("plume_running_sequences") == 0; }));
  ASSERT_TRUE(Eventually([&] { return absl::StrContains(server_->Log(), "id=deadline-1"); }));
  const std::string log = server_->Log();
  std::smatch match;
  ASSERT_TRUE(std::regex_search(
      log, match, std::regex("id=deadline-1 method=Complete code=DEADLINE_EXCEEDED.*"
                             "completion_tokens=(\\d+)")))
      << log;
  EXPECT_LT(std::stoi(match[1]), 500);
  EXPECT_EQ(HealthStatus(server_->Channel()), "SERVING");
}

}  // namespace
}  // namespace plume::testing
