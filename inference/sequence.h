// The engine's per-request state while a request waits or runs. Owned and touched only by the
// scheduler thread (after Engine::Submit built it).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "inference/detokenizer.h"
#include "inference/request.h"
#include "inference/sampler.h"
#include "inference/stop_matcher.h"

namespace plume::inference {

struct Sequence {
  Sequence(RequestId id, std::vector<int32_t> prompt, const SamplingParams& params,
           const Vocabulary& vocab, uint64_t seed, std::shared_ptr<TokenSink> sink)
      : id(id),
        params(params),
        tokens(std::move(prompt)),
        prompt_len(static_cast<int>(tokens.size())),
        sampler(params, tokens, vocab.eos_id(), seed),
        detokenizer(vocab),
        stop(params.stop),
        sink(std::move(sink)) {}

  int completion_tokens() const { return static_cast<int>(tokens.size()) - prompt_len; }
  // Tokens not yet in the KV cache: the prompt's rest while prefilling, then 1 (the last sample).
  int pending_tokens() const { return static_cast<int>(tokens.size()) - num_cached; }

  const RequestId id;
  const SamplingParams params;
  std::vector<int32_t> tokens;  // the prompt, then the sampled tokens
  const int prompt_len;
  int truncated_prompt_tokens = 0;
  int num_cached = 0;  // tokens whose K/V are in the slot
  int slot = -1;       // KV cache slot while running

  Sampler sampler;
  Detokenizer detokenizer;
  StopMatcher stop;
  std::shared_ptr<TokenSink> sink;

  absl::Time submitted, admitted, first_token;
  bool admitted_yet = false;
  bool has_first_token = false;
};

}  // namespace plume::inference
