#include "inference/sampling_params.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "absl/strings/match.h"

namespace plume::inference {
namespace {

TEST(SamplingParamsTest, DefaultsAreValid) {
  EXPECT_TRUE(SamplingParams().Validate().ok());
  EXPECT_FALSE(SamplingParams().greedy());
}

void ExpectInvalid(const std::function<void(SamplingParams&)>& change, absl::string_view field) {
  SamplingParams params;
  change(params);
  const absl::Status status = params.Validate();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << field;
  EXPECT_TRUE(absl::StrContains(status.message(), field)) << status;
}

TEST(SamplingParamsTest, RejectionsNameTheField) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  ExpectInvalid([](SamplingParams& p) { p.temperature = -0.1f; }, "temperature");
  ExpectInvalid([&](SamplingParams& p) { p.temperature = nan; }, "temperature");
  ExpectInvalid([](SamplingParams& p) { p.top_k = -1; }, "top_k");
  ExpectInvalid([](SamplingParams& p) { p.top_p = 0.0f; }, "top_p must be in (0, 1]");
  ExpectInvalid([](SamplingParams& p) { p.top_p = 1.5f; }, "top_p");
  ExpectInvalid([&](SamplingParams& p) { p.top_p = nan; }, "top_p");
  ExpectInvalid([](SamplingParams& p) { p.min_p = -0.5f; }, "min_p");
  ExpectInvalid([](SamplingParams& p) { p.repetition_penalty = 0.0f; }, "repetition_penalty");
  ExpectInvalid([](SamplingParams& p) { p.presence_penalty = 2.5f; }, "presence_penalty");
  ExpectInvalid([](SamplingParams& p) { p.frequency_penalty = -3.0f; }, "frequency_penalty");
  ExpectInvalid([](SamplingParams& p) { p.logit_bias = {{3, 101.0f}}; }, "logit_bias");
  ExpectInvalid([](SamplingParams& p) { p.max_tokens = 0; }, "max_tokens");
  ExpectInvalid([](SamplingParams& p) { p.min_tokens = 300; }, "min_tokens");
  ExpectInvalid([](SamplingParams& p) { p.stop = {""}; }, "stop[0]");
  ExpectInvalid([](SamplingParams& p) { p.stop = {"ok", "\xE6\x97"}; }, "stop[1]");
  ExpectInvalid([](SamplingParams& p) { p.stop = std::vector<std::string>(17, "x"); }, "stop");
  ExpectInvalid([](SamplingParams& p) { p.stop = {std::string(257, 'x')}; }, "stop[0]");
  ExpectInvalid([](SamplingParams& p) { p.top_logprobs = 21; }, "top_logprobs");
  ExpectInvalid([](SamplingParams& p) { p.top_logprobs = 2; }, "top_logprobs needs logprobs");
}

TEST(SamplingParamsTest, TokenIdsAreCheckedAgainstTheVocabulary) {
  SamplingParams params;
  params.logit_bias = {{99, 1.0f}};
  EXPECT_TRUE(params.ValidateTokenIds(100).ok());
  const absl::Status status = params.ValidateTokenIds(99);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "logit_bias token 99")) << status;
  params.logit_bias.clear();
  params.stop_token_ids = {-1};
  EXPECT_TRUE(absl::StrContains(params.ValidateTokenIds(99).message(), "stop_token_ids"));
}

}  // namespace
}  // namespace plume::inference
