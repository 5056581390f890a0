// A corpus tokenised once into memory-mapped token shards, cached under a directory keyed by the
// corpus content, the corpus settings and the tokenizer, so later runs (and --resume) start at
// once. Documents are separated by <|endoftext|>; the train/validation split is by document.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tokenizer.h"
#include "trainer/train_config.h"
#include "trainer/train_step.h"

namespace plume::trainer {

// One split's tokens (uint32) and, for prompt/completion data, which tokens are loss targets.
class TokenShard {
 public:
  static absl::StatusOr<TokenShard> Open(const std::string& dir, const std::string& name);

  int64_t size() const { return size_; }
  const uint32_t* tokens() const { return tokens_; }
  const uint8_t* mask() const { return mask_; }  // nullptr: every token is a target

 private:
  std::shared_ptr<void> tokens_map_, mask_map_;
  const uint32_t* tokens_ = nullptr;
  const uint8_t* mask_ = nullptr;
  int64_t size_ = 0;
};

struct PreparedCorpus {
  TokenShard train, validation;
  int64_t train_documents = 0, validation_documents = 0;
  std::string cache_dir;    // where the shards live
  bool from_cache = false;  // true when no tokenisation was needed
};

// Reads, tokenises (on `threads` threads) and splits the corpus of `data`, or opens the cached
// shards under `cache_root` when the key matches. `tokenizer_fingerprint` identifies the
// tokenizer (e.g. a digest of its files).
absl::StatusOr<PreparedCorpus> PrepareCorpus(const DataConfig& data, const core::Tokenizer& tokenizer,
                                             const std::string& tokenizer_fingerprint,
                                             const std::string& cache_root, int threads);

// Training windows of seq_len + 1 tokens at stride seq_len, visited in a fresh pseudo-random
// order each epoch (seed, epoch) when `shuffle`; sample i of the endless stream is a pure
// function of i, so a data position is just a sample count.
class WindowSampler {
 public:
  WindowSampler(const TokenShard& shard, int seq_len, uint64_t seed, bool shuffle);
  int64_t num_windows() const { return num_windows_; }
  // Samples [first, first + count) as one micro-batch: inputs/targets [count, seq_len].
  MicroBatch Batch(int64_t first, int count);

 private:
  int64_t WindowStart(int64_t sample);
  const TokenShard& shard_;
  int seq_len_;
  uint64_t seed_;
  bool shuffle_;
  int64_t num_windows_;
  int64_t epoch_ = -1;
  std::vector<int64_t> order_;  // this epoch's window order
};

}  // namespace plume::trainer
