#include "inference/sampling_params.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/utf8.h"

namespace plume::inference {
namespace {

absl::Status Bad(absl::string_view field, absl::string_view rule, double value) {
  return absl::InvalidArgumentError(absl::StrCat(field, " must be ", rule, " (got ", value, ")"));
}

}  // namespace

absl::Status SamplingParams::Validate() const {
  // Written as !(ok) so that NaN fails every check.
  if (!(temperature >= 0 && std::isfinite(temperature))) {
    return Bad("temperature", ">= 0 and finite", temperature);
  }
  if (top_k < 0) return Bad("top_k", ">= 0", top_k);
  if (!(top_p > 0 && top_p <= 1)) return Bad("top_p", "in (0, 1]", top_p);
  if (!(min_p >= 0 && min_p <= 1)) return Bad("min_p", "in [0, 1]", min_p);
  if (!(repetition_penalty > 0 && std::isfinite(repetition_penalty))) {
    return Bad("repetition_penalty", "> 0 and finite", repetition_penalty);
  }
  if (!(presence_penalty >= -2 && presence_penalty <= 2)) {
    return Bad("presence_penalty", "in [-2, 2]", presence_penalty);
  }
  if (!(frequency_penalty >= -2 && frequency_penalty <= 2)) {
    return Bad("frequency_penalty", "in [-2, 2]", frequency_penalty);
  }
  if (logit_bias.size() > kMaxLogitBias) {
    return Bad("logit_bias", absl::StrCat("at most ", kMaxLogitBias, " entries"),
               logit_bias.size());
  }
  for (const auto& [token, bias] : logit_bias) {
    if (!(bias >= -100 && bias <= 100)) {
      return absl::InvalidArgumentError(
          absl::StrCat("logit_bias for token ", token, " must be in [-100, 100] (got ", bias, ")"));
    }
  }
  if (max_tokens < 1) return Bad("max_tokens", ">= 1", max_tokens);
  if (min_tokens < 0 || min_tokens > max_tokens) {
    return Bad("min_tokens", absl::StrCat("in [0, max_tokens=", max_tokens, "]"), min_tokens);
  }
  if (stop_token_ids.size() > kMaxStopTokenIds) {
    return Bad("stop_token_ids", absl::StrCat("at most ", kMaxStopTokenIds, " entries"),
               stop_token_ids.size());
  }
  if (stop.size() > kMaxStopStrings) {
    return Bad("stop", absl::StrCat("at most ", kMaxStopStrings, " strings"), stop.size());
  }
  for (size_t i = 0; i < stop.size(); ++i) {
    if (stop[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("stop[", i, "] must not be empty"));
    }
    if (stop[i].size() > kMaxStopStringBytes) {
      return absl::InvalidArgumentError(absl::StrCat("stop[", i, "] must be at most ",
                                                     kMaxStopStringBytes, " bytes (got ",
                                                     stop[i].size(), ")"));
    }
    if (!core::IsValidUtf8(stop[i])) {
      return absl::InvalidArgumentError(absl::StrCat("stop[", i, "] must be valid UTF-8"));
    }
  }
  if (top_logprobs < 0 || top_logprobs > kMaxTopLogprobs) {
    return Bad("top_logprobs", absl::StrCat("in [0, ", kMaxTopLogprobs, "]"), top_logprobs);
  }
  if (top_logprobs > 0 && !logprobs) {
    return absl::InvalidArgumentError("top_logprobs needs logprobs to be set");
  }
  return absl::OkStatus();
}

absl::Status SamplingParams::ValidateTokenIds(int vocab_size) const {
  auto outside = [vocab_size](absl::string_view field, int32_t token) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " token ", token, " is outside the vocabulary [0, ", vocab_size, ")"));
  };
  for (const auto& entry : logit_bias) {
    if (entry.first < 0 || entry.first >= vocab_size) return outside("logit_bias", entry.first);
  }
  for (int32_t token : stop_token_ids) {
    if (token < 0 || token >= vocab_size) return outside("stop_token_ids", token);
  }
  return absl::OkStatus();
}

}  // namespace plume::inference
