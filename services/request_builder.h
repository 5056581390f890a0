// Turns a plume.v1.CompleteRequest into an engine Request: checks every field against its rule
// and the server's limits (errors are INVALID_ARGUMENT naming the proto field, e.g.
// "sampling.top_p must be in (0, 1] (got 1.5)"), encodes a text prompt and applies the
// truncation policy. Torch-free; runs on the RPC thread before anything reaches the engine.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "core/tokenizer.h"
#include "inference/request.h"
#include "plume/v1/completion.pb.h"

namespace plume::services {

struct RequestLimits {
  int context = 0;              // tokens per sequence, prompt plus completion (>= 2)
  int max_prompt_tokens = 0;    // longest prompt kept as is; <= context - 1
  int max_new_tokens = 1024;    // largest max_tokens
  int default_max_tokens = 128;  // max_tokens when unset
  int vocab_size = 0;           // prompt ids must be in [0, vocab_size)
};

struct CompletionPlan {
  inference::Request request;     // the prompt already truncated (request.truncate_prompt unset)
  std::string request_id;         // the caller's id; "" = none given
  int truncated_prompt_tokens = 0;
  bool echo = false;
  std::string echo_text;          // with echo: the prompt as run, decoded
};

// Limits on CompleteRequest.request_id: 1..128 characters of [A-Za-z0-9._:/-].
inline constexpr int kMaxRequestIdLength = 128;
bool IsValidRequestId(const std::string& id);

absl::StatusOr<CompletionPlan> BuildCompletionPlan(const v1::CompleteRequest& proto,
                                                   const core::Tokenizer& tokenizer,
                                                   const RequestLimits& limits);

// Encodes text for Tokenize and text prompts: INVALID_ARGUMENT naming `field` for empty text
// (when `allow_empty` is false) or invalid UTF-8.
absl::StatusOr<std::vector<int32_t>> EncodeText(const core::Tokenizer& tokenizer,
                                                const std::string& text, bool allow_special,
                                                absl::string_view field, bool allow_empty);

}  // namespace plume::services
