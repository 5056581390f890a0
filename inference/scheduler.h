// Continuous batching policy: which sequences run and which tokens each step computes. Pure
// bookkeeping over Sequence state (no model), owned by the scheduler thread.
//
// Every step, waiting sequences are admitted (oldest first) while a KV slot is free and fewer
// than max_running run; then every decoding sequence gets its one token, and the remaining
// budget of max_step_tokens goes to prompt chunks of prefilling sequences, oldest first. A long
// prompt is thus prefilled over several steps while the other streams keep decoding, and no
// step computes more than max_step_tokens tokens.
#pragma once

#include <deque>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "inference/kv_cache.h"
#include "inference/sequence.h"

namespace plume::inference {

struct SchedulerOptions {
  int max_running = 16;       // sequences in the batch at once (<= KV slots)
  int max_step_tokens = 256;  // tokens per step (decode tokens + prompt chunks); >= max_running
  absl::Status Validate() const;
};

struct ScheduledChunk {
  Sequence* sequence = nullptr;
  int num_tokens = 0;    // tokens [num_cached, num_cached + num_tokens) of the sequence
  bool samples = false;  // the chunk reaches the last pending token: sample from its logits
};

class Scheduler {
 public:
  Scheduler(const SchedulerOptions& options, SlotAllocator& slots)
      : options_(options), slots_(&slots) {}

  void Enqueue(std::unique_ptr<Sequence> sequence);
  // Admits what fits (setting slot and admission time) and returns the next step's chunks, or
  // nothing when there is no work. `admitted` (optional) receives how many were admitted.
  std::vector<ScheduledChunk> Schedule(absl::Time now, int* admitted = nullptr);
  // Takes a sequence out (waiting or running), freeing its slot; null if unknown.
  std::unique_ptr<Sequence> Remove(RequestId id);
  // Takes every sequence out (shutdown).
  std::vector<std::unique_ptr<Sequence>> RemoveAll();

  int num_waiting() const { return static_cast<int>(waiting_.size()); }
  int num_running() const { return static_cast<int>(running_.size()); }
  bool has_work() const { return !waiting_.empty() || !running_.empty(); }

 private:
  SchedulerOptions options_;
  SlotAllocator* slots_;
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;  // admission order
};

}  // namespace plume::inference
