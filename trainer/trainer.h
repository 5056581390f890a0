// The training loop of plume-train: prepares the run directory, tokenizer, model and corpus,
// then trains with periodic validation, metrics and atomic checkpoints, and resumes exactly.
#pragma once

#include "absl/status/status.h"
#include "trainer/train_config.h"

namespace plume::trainer {

struct RunOptions {
  bool resume = false;  // continue from the newest complete checkpoint of config.output_dir
};

// Runs the training of `config` until max_steps, or until RequestStop() (then it finishes the
// current step, writes a checkpoint and returns OK).
absl::Status RunTraining(const TrainConfig& config, const RunOptions& options);

// Async-signal-safe: asks a running RunTraining to stop after the current step.
void RequestStop();

}  // namespace plume::trainer
