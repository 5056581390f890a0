// What a training run tells its user: one `key=value` line per event on stderr — on a terminal a
// live status line (step, loss, lr, tokens/s, ETA) replaces the per-step lines — and records in
// metrics.jsonl for every logged step and evaluation.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "trainer/metrics_log.h"
#include "trainer/run_checkpoints.h"
#include "trainer/train_step.h"

namespace plume::trainer {

// One line on stderr (closing the live status line first, if one is shown).
void LogEvent(const std::string& line);

class Progress {
 public:
  // `state` is where the run starts (resumed or 0).
  Progress(MetricsLog* metrics, int log_every, int64_t max_steps, const TrainerState& state);

  // After each optimizer step; `force` logs it even off the log_every grid (last step, stop).
  void OnStep(const TrainerState& state, const StepResult& result, double lr, bool force);
  void OnEval(int64_t step, double val_loss);

 private:
  using Clock = std::chrono::steady_clock;
  MetricsLog* metrics_;
  int log_every_;
  int64_t max_steps_;
  int64_t start_step_;
  double start_elapsed_;
  bool tty_;
  double window_tokens_ = 0;
  Clock::time_point window_start_ = Clock::now();
};

}  // namespace plume::trainer
