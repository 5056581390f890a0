#include "inference/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace plume::inference {

absl::Status SchedulerOptions::Validate() const {
  if (max_running < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_running must be >= 1 (got ", max_running, ")"));
  }
  if (max_step_tokens < max_running) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_step_tokens must be >= max_running=", max_running,
                     " so that every running sequence "
                     "decodes each step (got ",
                     max_step_tokens, ")"));
  }
  return absl::OkStatus();
}

void Scheduler::Enqueue(std::unique_ptr<Sequence> sequence) {
  waiting_.push_back(std::move(sequence));
}

std::vector<ScheduledChunk> Scheduler::Schedule(absl::Time now, int* admitted) {
  int count = 0;
  while (!waiting_.empty() && num_running() < options_.max_running) {
    const std::optional<int> slot = slots_->Allocate();
    if (!slot.has_value()) break;
    std::unique_ptr<Sequence> sequence = std::move(waiting_.front());
    waiting_.pop_front();
    sequence->slot = *slot;
    sequence->admitted = now;
    sequence->admitted_yet = true;
    running_.push_back(std::move(sequence));
    ++count;
  }
  if (admitted != nullptr) *admitted = count;

  std::vector<ScheduledChunk> chunks;
  int budget = options_.max_step_tokens;
  for (const auto& sequence : running_) {  // decoding sequences first: one token each
    if (budget == 0) break;
    if (sequence->pending_tokens() == 1) {
      chunks.push_back({sequence.get(), 1, true});
      --budget;
    }
  }
  for (const auto& sequence : running_) {  // then prompt chunks, oldest first
    if (budget == 0) break;
    const int pending = sequence->pending_tokens();
    if (pending <= 1) continue;
    const int n = std::min(pending, budget);
    chunks.push_back({sequence.get(), n, n == pending});
    budget -= n;
  }
  return chunks;
}

std::unique_ptr<Sequence> Scheduler::Remove(RequestId id) {
  for (auto it = running_.begin(); it != running_.end(); ++it) {
    if ((*it)->id != id) continue;
    std::unique_ptr<Sequence> sequence = std::move(*it);
    running_.erase(it);
    slots_->Free(sequence->slot);
    sequence->slot = -1;
    return sequence;
  }
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if ((*it)->id != id) continue;
    std::unique_ptr<Sequence> sequence = std::move(*it);
    waiting_.erase(it);
    return sequence;
  }
  return nullptr;
}

std::vector<std::unique_ptr<Sequence>> Scheduler::RemoveAll() {
  std::vector<std::unique_ptr<Sequence>> all;
  for (auto& sequence : running_) {
    slots_->Free(sequence->slot);
    sequence->slot = -1;
    all.push_back(std::move(sequence));
  }
  running_.clear();
  for (auto& sequence : waiting_) all.push_back(std::move(sequence));
  waiting_.clear();
  return all;
}

}  // namespace plume::inference
