// Setting up a run directory: ownership checks, the run's tokenizer, its fingerprint.
//   <run>/run.json         the recipe identity, Plume version, start time
//   <run>/metrics.jsonl    every logged step and evaluation
//   <run>/tokenizer/       the tokenizer every checkpoint of the run carries
//   <run>/checkpoints/     see run_checkpoints.h
//   <run>/cache/           token shards (unless data.cache_dir)
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/tokenizer.h"
#include "trainer/train_config.h"

namespace plume::trainer {

inline constexpr char kRunFile[] = "run.json";
inline constexpr char kMetricsFile[] = "metrics.jsonl";
inline constexpr char kRunTokenizerDir[] = "tokenizer";

// Checks that config.output_dir is new or holds this very run (when resuming) and records the
// run. A directory whose previous attempt never reached a checkpoint starts afresh.
absl::Status PrepareRunDirectory(const TrainConfig& config, bool resume);

// The run's tokenizer, kept in <run>/tokenizer: the recipe's, the init checkpoint's, or one
// trained on the training corpus with model.vocab_size tokens.
absl::StatusOr<core::Tokenizer> PrepareRunTokenizer(const TrainConfig& config);

// Digest of a tokenizer directory's files (for the token shard cache key).
absl::StatusOr<std::string> TokenizerFingerprint(const std::string& dir);

}  // namespace plume::trainer
