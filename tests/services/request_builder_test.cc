// CompleteRequest -> engine Request: field mapping, defaults, limits and truncation, with errors
// that name the proto field.
#include "services/request_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/e2e/train_fixture.h"

namespace plume::services {
namespace {

using ::testing::HasSubstr;

const core::Tokenizer& TestTokenizer() {
  static const core::Tokenizer* tokenizer = [] {
    core::BpeTrainerOptions options;
    options.vocab_size = 400;
    options.threads = 1;
    return new core::Tokenizer(*core::TrainBpe({testing::GeneratedCorpus(200)}, options));
  }();
  return *tokenizer;
}

RequestLimits Limits() {
  RequestLimits limits;
  limits.context = 64;
  limits.max_prompt_tokens = 50;
  limits.max_new_tokens = 32;
  limits.default_max_tokens = 16;
  limits.vocab_size = TestTokenizer().vocab_size();
  return limits;
}

absl::StatusOr<CompletionPlan> Build(const v1::CompleteRequest& request) {
  return BuildCompletionPlan(request, TestTokenizer(), Limits());
}

TEST(RequestBuilderTest, MapsEveryField) {
  v1::CompleteRequest request;
  request.set_text("The river");
  request.set_max_tokens(20);
  v1::SamplingParameters* s = request.mutable_sampling();
  s->set_temperature(0.7f);
  s->set_top_k(40);
  s->set_top_p(0.9f);
  s->set_min_p(0.05f);
  s->set_repetition_penalty(1.1f);
  s->set_presence_penalty(0.5f);
  s->set_frequency_penalty(-0.5f);
  (*s->mutable_logit_bias())[12] = -3;
  (*s->mutable_logit_bias())[7] = 2;
  s->set_seed(99);
  request.mutable_stopping()->add_stop("\n\n");
  request.mutable_stopping()->add_stop_token_ids(5);
  request.mutable_stopping()->set_min_tokens(2);
  request.mutable_stopping()->set_ignore_eos(true);
  request.mutable_logprobs()->set_enabled(true);
  request.mutable_logprobs()->set_top_n(4);
  request.set_echo(true);
  request.set_request_id("req-1");

  absl::StatusOr<CompletionPlan> plan = Build(request);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const inference::SamplingParams& p = plan->request.params;
  EXPECT_EQ(plan->request.prompt, *TestTokenizer().Encode("The river", core::SpecialTokens::kAsText));
  EXPECT_FALSE(plan->request.truncate_prompt);
  EXPECT_EQ(p.max_tokens, 20);
  EXPECT_FLOAT_EQ(p.temperature, 0.7f);
  EXPECT_EQ(p.top_k, 40);
  EXPECT_FLOAT_EQ(p.top_p, 0.9f);
  EXPECT_FLOAT_EQ(p.min_p, 0.05f);
  EXPECT_FLOAT_EQ(p.repetition_penalty, 1.1f);
  EXPECT_FLOAT_EQ(p.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(p.frequency_penalty, -0.5f);
  EXPECT_EQ(p.logit_bias, (std::vector<std::pair<int32_t, float>>{{7, 2.0f}, {12, -3.0f}}));
  EXPECT_EQ(p.seed, 99u);
  EXPECT_EQ(p.stop, std::vector<std::string>{"\n\n"});
  EXPECT_EQ(p.stop_token_ids, std::vector<int32_t>{5});
  EXPECT_EQ(p.min_tokens, 2);
  EXPECT_TRUE(p.ignore_eos);
  EXPECT_TRUE(p.logprobs);
  EXPECT_EQ(p.top_logprobs, 4);
  EXPECT_TRUE(plan->echo);
  EXPECT_EQ(plan->echo_text, "The river");
  EXPECT_EQ(plan->request_id, "req-1");
}

TEST(RequestBuilderTest, UnsetFieldsTakeTheDefaults) {
  v1::CompleteRequest request;
  request.mutable_token_ids()->add_ids(3);
  absl::StatusOr<CompletionPlan> plan = Build(request);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const inference::SamplingParams defaults;
  const inference::SamplingParams& p = plan->request.params;
  EXPECT_EQ(p.max_tokens, 16);  // the server's default_max_tokens
  EXPECT_EQ(p.temperature, defaults.temperature);
  EXPECT_EQ(p.top_p, defaults.top_p);
  EXPECT_EQ(p.repetition_penalty, defaults.repetition_penalty);
  EXPECT_FALSE(p.seed.has_value());
  EXPECT_TRUE(plan->request_id.empty());
  // An explicit 0 temperature is greedy, not "unset".
  request.mutable_sampling()->set_temperature(0);
  EXPECT_TRUE(Build(request)->request.params.greedy());
}

TEST(RequestBuilderTest, SpecialTokensOnlyWhenAllowed) {
  const int32_t eos = *TestTokenizer().eos_id();
  v1::CompleteRequest request;
  request.set_text("<|endoftext|>");
  EXPECT_NE(Build(request)->request.prompt, std::vector<int32_t>{eos});
  request.set_allow_special(true);
  EXPECT_EQ(Build(request)->request.prompt, std::vector<int32_t>{eos});
}

TEST(RequestBuilderTest, PromptLimitsAndTruncation) {
  v1::CompleteRequest request;
  for (int i = 0; i < 60; ++i) request.mutable_token_ids()->add_ids(i);
  request.set_max_tokens(30);
  absl::StatusOr<CompletionPlan> plan = Build(request);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(),
              HasSubstr("prompt has 60 tokens but at most 50 are accepted (context 64"));

  // Drop oldest: room for max_tokens in the context (64 - 30 = 34 <= 50), newest tokens kept.
  request.set_truncation(v1::TRUNCATION_POLICY_DROP_OLDEST);
  plan = Build(request);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->truncated_prompt_tokens, 26);
  ASSERT_EQ(plan->request.prompt.size(), 34u);
  EXPECT_EQ(plan->request.prompt.front(), 26);
  EXPECT_EQ(plan->request.prompt.back(), 59);
  // A short max_tokens: the prompt limit (50) decides.
  request.set_max_tokens(2);
  EXPECT_EQ(Build(request)->request.prompt.size(), 50u);
  // A prompt that fits is left alone.
  request.mutable_token_ids()->mutable_ids()->Truncate(10);
  EXPECT_EQ(Build(request)->truncated_prompt_tokens, 0);
}

TEST(RequestBuilderTest, ErrorsNameTheProtoField) {
  auto error = [](auto mutate) {
    v1::CompleteRequest request;
    request.set_text("hello");
    mutate(request);
    absl::StatusOr<CompletionPlan> plan = Build(request);
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(plan.status().message());
  };
  using R = v1::CompleteRequest;
  EXPECT_THAT(error([](R& r) { r.mutable_sampling()->set_temperature(-1); }),
              ::testing::StartsWith("sampling.temperature must be"));
  EXPECT_THAT(error([](R& r) { r.mutable_sampling()->set_top_p(2); }),
              ::testing::StartsWith("sampling.top_p must be in (0, 1]"));
  EXPECT_THAT(error([](R& r) { r.mutable_stopping()->add_stop(""); }),
              ::testing::StartsWith("stopping.stop[0] must not be empty"));
  EXPECT_THAT(error([](R& r) { r.mutable_stopping()->add_stop_token_ids(100000); }),
              ::testing::StartsWith("stopping.stop_token_ids token 100000"));
  EXPECT_THAT(error([](R& r) { r.mutable_stopping()->set_min_tokens(17); }),
              ::testing::StartsWith("stopping.min_tokens must be in [0, max_tokens=16]"));
  EXPECT_THAT(error([](R& r) { (*r.mutable_sampling()->mutable_logit_bias())[1] = 101; }),
              ::testing::StartsWith("sampling.logit_bias for token 1"));
  EXPECT_THAT(error([](R& r) {
                r.mutable_logprobs()->set_enabled(true);
                r.mutable_logprobs()->set_top_n(30);
              }),
              ::testing::StartsWith("logprobs.top_n must be in [0, 20]"));
  EXPECT_THAT(error([](R& r) { r.set_max_tokens(33); }),
              HasSubstr("max_tokens=33 exceeds the server's limit max_new_tokens=32"));
  EXPECT_THAT(error([](R& r) { r.set_request_id("a\"b"); }), ::testing::StartsWith("request_id"));
  EXPECT_THAT(error([](R& r) { r.clear_prompt(); }), HasSubstr("prompt is not set"));
}

TEST(RequestBuilderTest, RequestIds) {
  EXPECT_TRUE(IsValidRequestId("abc-123_x.y:z/w"));
  EXPECT_FALSE(IsValidRequestId(""));
  EXPECT_FALSE(IsValidRequestId("has space"));
  EXPECT_FALSE(IsValidRequestId("quote\""));
  EXPECT_FALSE(IsValidRequestId(std::string(129, 'a')));
  EXPECT_TRUE(IsValidRequestId(std::string(128, 'a')));
}

}  // namespace
}  // namespace plume::services
