#include "services/request_builder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace plume::services {
namespace {

// SamplingParams::Validate names the engine's fields at the start of its messages; the API's
// callers know them by their proto paths.
absl::Status RenameField(const absl::Status& status) {
  if (status.ok()) return status;
  static constexpr std::pair<absl::string_view, absl::string_view> kFields[] = {
      {"temperature", "sampling.temperature"},
      {"top_k", "sampling.top_k"},
      {"top_p", "sampling.top_p"},
      {"min_p", "sampling.min_p"},
      {"repetition_penalty", "sampling.repetition_penalty"},
      {"presence_penalty", "sampling.presence_penalty"},
      {"frequency_penalty", "sampling.frequency_penalty"},
      {"logit_bias", "sampling.logit_bias"},
      {"max_tokens", "max_tokens"},
      {"min_tokens", "stopping.min_tokens"},
      {"stop_token_ids", "stopping.stop_token_ids"},
      {"stop", "stopping.stop"},
      {"top_logprobs", "logprobs.top_n"},
  };
  const absl::string_view message = status.message();
  for (const auto& [engine_name, proto_name] : kFields) {
    if (absl::StartsWith(message, engine_name) && message.size() > engine_name.size() &&
        (message[engine_name.size()] == ' ' || message[engine_name.size()] == '[')) {
      return absl::Status(status.code(),
                          absl::StrCat(proto_name, message.substr(engine_name.size())));
    }
  }
  return status;
}

absl::Status Invalid(absl::string_view message) { return absl::InvalidArgumentError(message); }

}  // namespace

bool IsValidRequestId(const std::string& id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (char c : id) {
    if (!(absl::ascii_isalnum(c) || c == '.' || c == '_' || c == ':' || c == '/' || c == '-')) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::vector<int32_t>> EncodeText(const core::Tokenizer& tokenizer,
                                                const std::string& text, bool allow_special,
                                                absl::string_view field, bool allow_empty) {
  if (text.empty() && !allow_empty) return Invalid(absl::StrCat(field, " must not be empty"));
  absl::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(
      text, allow_special ? core::SpecialTokens::kAllow : core::SpecialTokens::kAsText);
  if (!ids.ok()) return Invalid(absl::StrCat(field, ": ", ids.status().message()));
  return ids;
}

absl::StatusOr<CompletionPlan> BuildCompletionPlan(const v1::CompleteRequest& proto,
                                                   const core::Tokenizer& tokenizer,
                                                   const RequestLimits& limits) {
  CompletionPlan plan;
  if (!proto.request_id().empty()) {
    if (!IsValidRequestId(proto.request_id())) {
      return Invalid(absl::StrCat("request_id must be 1..", kMaxRequestIdLength,
                                  " characters of [A-Za-z0-9._:/-] (got ",
                                  proto.request_id().size(), " characters)"));
    }
    plan.request_id = proto.request_id();
  }
  plan.echo = proto.echo();

  // --- Parameters first: a bad request costs no tokenization.
  inference::SamplingParams& params = plan.request.params;
  if (proto.has_max_tokens()) {
    if (proto.max_tokens() < 1) {
      return Invalid(absl::StrCat("max_tokens must be >= 1 (got ", proto.max_tokens(), ")"));
    }
    if (proto.max_tokens() > limits.max_new_tokens) {
      return Invalid(absl::StrCat("max_tokens=", proto.max_tokens(),
                                  " exceeds the server's limit max_new_tokens=",
                                  limits.max_new_tokens));
    }
    params.max_tokens = proto.max_tokens();
  } else {
    params.max_tokens = limits.default_max_tokens;
  }

  const v1::SamplingParameters& sampling = proto.sampling();
  if (sampling.has_temperature()) params.temperature = sampling.temperature();
  params.top_k = sampling.top_k();
  if (sampling.has_top_p()) params.top_p = sampling.top_p();
  params.min_p = sampling.min_p();
  if (sampling.has_repetition_penalty()) params.repetition_penalty = sampling.repetition_penalty();
  params.presence_penalty = sampling.presence_penalty();
  params.frequency_penalty = sampling.frequency_penalty();
  for (const auto& [token, bias] : sampling.logit_bias()) params.logit_bias.emplace_back(token, bias);
  // Map order is unspecified; sorted, the chain (and its errors) do not depend on it.
  std::sort(params.logit_bias.begin(), params.logit_bias.end());
  if (sampling.has_seed()) params.seed = sampling.seed();

  const v1::StoppingCriteria& stopping = proto.stopping();
  params.stop.assign(stopping.stop().begin(), stopping.stop().end());
  params.stop_token_ids.assign(stopping.stop_token_ids().begin(), stopping.stop_token_ids().end());
  params.min_tokens = stopping.min_tokens();
  params.ignore_eos = stopping.ignore_eos();

  const v1::LogprobsOptions& logprobs = proto.logprobs();
  if (logprobs.top_n() != 0 && !logprobs.enabled()) {
    return Invalid(absl::StrCat("logprobs.top_n=", logprobs.top_n(),
                                " needs logprobs.enabled to be true"));
  }
  params.logprobs = logprobs.enabled();
  params.top_logprobs = logprobs.top_n();

  RETURN_IF_ERROR(RenameField(params.Validate()));
  RETURN_IF_ERROR(RenameField(params.ValidateTokenIds(limits.vocab_size)));

  if (!v1::TruncationPolicy_IsValid(proto.truncation())) {
    return Invalid(absl::StrCat("truncation has the unknown value ", proto.truncation()));
  }
  const bool drop_oldest = proto.truncation() == v1::TRUNCATION_POLICY_DROP_OLDEST;

  // --- The prompt.
  std::vector<int32_t>& prompt = plan.request.prompt;
  switch (proto.prompt_case()) {
    case v1::CompleteRequest::kText: {
      ASSIGN_OR_RETURN(prompt, EncodeText(tokenizer, proto.text(), proto.allow_special(),
                                          "text", /*allow_empty=*/false));
      if (prompt.empty()) return Invalid("text encodes to no tokens");
      break;
    }
    case v1::CompleteRequest::kTokenIds: {
      const auto& ids = proto.token_ids().ids();
      if (ids.empty()) return Invalid("token_ids.ids must not be empty");
      for (int i = 0; i < ids.size(); ++i) {
        if (ids[i] < 0 || ids[i] >= limits.vocab_size) {
          return Invalid(absl::StrCat("token_ids.ids[", i, "]=", ids[i],
                                      " is outside the vocabulary [0, ", limits.vocab_size, ")"));
        }
      }
      prompt.assign(ids.begin(), ids.end());
      break;
    }
    case v1::CompleteRequest::PROMPT_NOT_SET:
      return Invalid("prompt is not set: set text or token_ids");
  }

  const int length = static_cast<int>(prompt.size());
  const int limit = std::min(limits.max_prompt_tokens, limits.context - 1);
  if (length > limit) {
    if (!drop_oldest) {
      return Invalid(absl::StrCat(
          "prompt has ", length, " tokens but at most ", limit,
          " are accepted (context ", limits.context, ", max_prompt_tokens ",
          limits.max_prompt_tokens,
          "); shorten it or set truncation=TRUNCATION_POLICY_DROP_OLDEST"));
    }
  }
  if (drop_oldest) {
    const int keep = std::min(limit, std::max(1, limits.context - params.max_tokens));
    if (length > keep) {
      plan.truncated_prompt_tokens = length - keep;
      prompt.erase(prompt.begin(), prompt.begin() + plan.truncated_prompt_tokens);
    }
  }
  if (plan.echo) {
    // Ids are in range (checked above); bytes that split a character become U+FFFD.
    ASSIGN_OR_RETURN(plan.echo_text, tokenizer.Decode(prompt));
  }
  return plan;
}

}  // namespace plume::services
