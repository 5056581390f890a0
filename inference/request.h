// What callers give the engine and what they get back. A request is a prompt of token ids (encode
// text with core::Tokenizer first) plus SamplingParams; results stream into a TokenSink.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "inference/sampler.h"
#include "inference/sampling_params.h"

namespace plume::inference {

using RequestId = uint64_t;

struct Request {
  std::vector<int32_t> prompt;  // token ids, non-empty, each in the vocabulary
  SamplingParams params;
  // A prompt that leaves no room in the context for a completion token is an INVALID_ARGUMENT
  // error, unless this is set: then the oldest prompt tokens are dropped so that the prompt
  // plus max_tokens fits the context (at least one prompt token is kept), and
  // Result::truncated_prompt_tokens says how many were dropped.
  bool truncate_prompt = false;
};

enum class FinishReason {
  kStopString,  // a stop string appeared (it and everything after it is not emitted)
  kStopToken,   // one of params.stop_token_ids was sampled
  kEos,         // the end-of-sequence token was sampled
  kLength,      // max_tokens reached, or the context is full
  kCancelled,   // Engine::Cancel
  kError,       // Result::status says why (model failure, engine shutdown)
};
absl::string_view FinishReasonName(FinishReason reason);  // "stop_string", "eos", ...

// A piece of a streamed completion. Each sampled token produces one delta; a last delta may
// carry text released at the end (held-back text, an unfinished character as U+FFFD).
struct Delta {
  std::string text;                    // whole UTF-8 characters; never any stop text; may be empty
  std::vector<int32_t> token_ids;      // the sampled tokens (also EOS and stop tokens, whose
                                       // text is not emitted)
  std::vector<LogprobEntry> logprobs;  // one per token id when params.logprobs
};

struct Usage {
  int prompt_tokens = 0;      // tokens of the prompt as run (after truncation)
  int completion_tokens = 0;  // sampled tokens, including a final EOS or stop token
};

struct Timings {
  absl::Duration queue;                // submission -> a KV slot was assigned
  absl::Duration time_to_first_token;  // submission -> first token sampled (0 if none)
  absl::Duration total;                // submission -> finish
};

struct Result {
  absl::Status status;  // OK unless finish_reason is kError
  FinishReason finish_reason = FinishReason::kLength;
  std::string stop_string;            // the stop string that matched (kStopString)
  std::optional<int32_t> stop_token;  // the token that stopped generation (kEos, kStopToken)
  Usage usage;
  Timings timings;
  int truncated_prompt_tokens = 0;  // oldest prompt tokens dropped (Request::truncate_prompt)
};

// Receives one request's output. Both methods are called on the engine's scheduler thread, one
// call at a time per request, in order: OnDelta zero or more times, then OnFinish exactly once,
// after which the engine drops its reference to the sink. They must return quickly and never
// block (queue the data and wake your own thread): every running request waits while a sink
// runs. They must not throw (a throwing OnDelta cancels the request). Calling Engine::Submit or
// Engine::Cancel from inside them is allowed.
class TokenSink {
 public:
  virtual ~TokenSink() = default;
  virtual void OnDelta(const Delta& delta) = 0;
  virtual void OnFinish(const Result& result) = 0;
};

}  // namespace plume::inference
