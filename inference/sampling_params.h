// Per-request generation parameters: how the next token is chosen, when generation stops and
// which log probabilities are reported. Defaults are the "off" values, so a default-constructed
// SamplingParams samples from the model's distribution unchanged for up to 256 tokens.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace plume::inference {

inline constexpr int kMaxTopLogprobs = 20;       // alternatives per token
inline constexpr int kMaxStopStrings = 16;       // entries of SamplingParams::stop
inline constexpr int kMaxStopStringBytes = 256;  // length of each stop string
inline constexpr int kMaxStopTokenIds = 64;      // entries of SamplingParams::stop_token_ids
inline constexpr int kMaxLogitBias = 1024;       // entries of SamplingParams::logit_bias

struct SamplingParams {
  // --- Choosing the next token: penalties -> logit bias -> temperature -> top-k -> top-p -> min-p.
  float temperature = 1.0f;         // >= 0; divides the logits; 0 = greedy (argmax)
  int top_k = 0;                    // >= 0; keep only the k most likely tokens; 0 = off
  float top_p = 1.0f;               // (0, 1]; keep the smallest most-likely set with mass >= top_p;
                                    // 1 = off
  float min_p = 0.0f;               // [0, 1]; drop tokens less likely than min_p * p(most likely);
                                    // 0 = off
  float repetition_penalty = 1.0f;  // > 0; logits of tokens seen in the prompt or the output are
                                    // divided (if > 0) or multiplied (if < 0) by it; 1 = off
  float presence_penalty = 0.0f;    // [-2, 2]; subtracted once from each token in the output
  float frequency_penalty = 0.0f;   // [-2, 2]; subtracted per occurrence of a token in the output
  std::vector<std::pair<int32_t, float>> logit_bias;  // (token, bias in [-100, 100]) added to
                                                      // that token's logit; empty = off
  std::optional<uint64_t> seed;  // same seed + same prompt -> same tokens; unset = random

  // --- Length and stopping.
  int max_tokens = 256;     // >= 1; completion tokens at most (the context may end earlier)
  int min_tokens = 0;       // [0, max_tokens]; EOS, stop tokens and stop strings are
                            // ignored until this many tokens were generated
  bool ignore_eos = false;  // true: EOS is an ordinary token and does not stop
  std::vector<int32_t> stop_token_ids;  // generation stops after sampling one of these
  std::vector<std::string> stop;  // stop strings (non-empty, valid UTF-8); the text stops before
                                  // the first one that appears and never contains it

  // --- Log probabilities (of the model's raw distribution: log_softmax of the logits before
  //     any penalty, bias, temperature or truncation).
  bool logprobs = false;  // report the log probability of each sampled token
  int top_logprobs = 0;   // [0, 20]; also the most likely alternatives; needs logprobs

  // Checks every field on its own; the message names the field and its rule.
  absl::Status Validate() const;
  // Checks the token ids (logit_bias, stop_token_ids) against a vocabulary of `vocab_size`.
  absl::Status ValidateTokenIds(int vocab_size) const;

  // Whether the next token is always the most likely one (no randomness involved).
  bool greedy() const { return temperature == 0.0f; }
};

}  // namespace plume::inference
