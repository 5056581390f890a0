// The generation engine: callers Submit requests and Cancel them from any thread; one scheduler
// thread owns the model, the KV cache and the sequences, and runs continuous batching (see
// Scheduler): each step it admits waiting requests, runs one incremental forward over every
// running sequence's next tokens, samples, detokenises, applies stops and streams deltas to the
// requests' sinks. Callers never run the model.
//
//   auto engine = Engine::Create(model, vocab, options);      // StatusOr<unique_ptr<Engine>>
//   auto id = (*engine)->Submit(request, sink);               // RESOURCE_EXHAUSTED when full
//   (*engine)->Cancel(*id);                                   // leaves the batch next step
//
// Capacity: `max_sequences` KV slots of `max_context` tokens are allocated up front, so a running
// sequence never runs out of KV memory; a request beyond them waits in a bounded queue, and a
// request beyond the queue is rejected at Submit.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/gpt.h"
#include "inference/kv_cache.h"
#include "inference/request.h"
#include "inference/scheduler.h"
#include "inference/sequence.h"
#include "inference/vocabulary.h"

namespace plume::inference {

struct EngineOptions {
  int max_sequences = 16;     // sequences decoding together = KV cache slots; [1, 1024]
  int max_context = 0;        // tokens per sequence, prompt + completion; 0 = the model's
                              // n_positions; [2, n_positions]
  int max_step_tokens = 256;  // tokens per forward step (decode tokens + prompt chunks);
                              // >= max_sequences; bounds how long a prompt can stall the streams
  int max_waiting = 256;      // requests waiting for a slot beyond the free ones; more are
                              // rejected with RESOURCE_EXHAUSTED; >= 0
  int threads = 0;            // LibTorch intra-op threads on the scheduler thread; 0 = unchanged
  bool bf16_weights = false;  // multiply with a bf16 copy of the weights (half the bytes per
                              // decoded token; logits within 2e-2, see
                              // core GptImpl::PrepareInference); false = fp32
  absl::Status Validate() const;
};

// A snapshot for metrics.
struct EngineStats {
  int waiting = 0;               // accepted, not yet given a slot
  int running = 0;               // holding a slot
  int last_step_sequences = 0;   // sequences in the most recent step
  int last_step_tokens = 0;      // tokens computed by the most recent step
  int64_t steps = 0;             // forward steps run
  int64_t prompt_tokens = 0;     // prompt tokens prefilled
  int64_t generated_tokens = 0;  // tokens sampled
  int64_t finished = 0;          // requests finished (any reason)
  int64_t rejected = 0;          // submissions refused because the queue was full
};

class Engine {
 public:
  // Takes over `model` (it must not be used elsewhere while the engine lives) and starts the
  // scheduler thread. `vocab` must cover the model's token ids it may sample (vocab.size() <=
  // the model's vocab_size; ids beyond the vocabulary are never sampled).
  static absl::StatusOr<std::unique_ptr<Engine>> Create(std::shared_ptr<core::GptImpl> model,
                                                        Vocabulary vocab,
                                                        const EngineOptions& options);
  // Finishes every request still queued or running (kError, UNAVAILABLE) and stops the thread.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates and queues `request`; its output goes to `sink` (see TokenSink). Errors:
  // INVALID_ARGUMENT naming the field (bad params, empty prompt, token outside the vocabulary,
  // prompt too long without truncate_prompt), RESOURCE_EXHAUSTED when the waiting queue is
  // full, UNAVAILABLE after shutdown started. Thread-safe.
  absl::StatusOr<RequestId> Submit(Request request, std::shared_ptr<TokenSink> sink);

  // Asks the scheduler to end request `id`: it leaves the batch before the next step, frees its
  // slot and finishes with kCancelled. NOT_FOUND when the request already finished (its
  // OnFinish has been or is being delivered) or never existed. Thread-safe.
  absl::Status Cancel(RequestId id);

  EngineStats Stats() const;
  const EngineOptions& options() const { return options_; }  // max_context resolved
  const Vocabulary& vocab() const { return vocab_; }

 private:
  Engine(std::shared_ptr<core::GptImpl> model, Vocabulary vocab, const EngineOptions& options,
         std::unique_ptr<KvCache> cache);
  void Loop();
  void RunStep(const std::vector<ScheduledChunk>& chunks);
  // Appends the sampled token and streams it; finishes the sequence when a stop applies.
  void HandleToken(Sequence* sequence, int32_t token, LogprobEntry* logprobs);
  // Ends `sequence` (already out of the scheduler): releases held text into `delta` unless a
  // stop string ended it, sends `delta` if it has content, then OnFinish.
  void Finish(std::unique_ptr<Sequence> sequence, FinishReason reason, absl::Status status,
              Delta delta = {});
  void FinishRunning(Sequence* sequence, FinishReason reason, absl::Status status,
                     Delta delta = {});

  const std::shared_ptr<core::GptImpl> model_;
  const Vocabulary vocab_;
  const EngineOptions options_;
  std::unique_ptr<KvCache> cache_;  // scheduler thread only
  Scheduler scheduler_;             // scheduler thread only

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable wake_;
  bool stopping_ = false;
  RequestId next_id_ = 1;
  std::mt19937_64 seeds_;  // seeds for requests without one
  std::vector<std::unique_ptr<Sequence>> inbox_;
  std::vector<RequestId> cancels_;
  absl::flat_hash_set<RequestId> live_;  // submitted and not finished
  int waiting_ = 0;                      // submitted, not yet admitted
  int running_ = 0;                      // holding a slot
  EngineStats stats_;

  std::thread thread_;  // last: starts after everything above exists
};

}  // namespace plume::inference
