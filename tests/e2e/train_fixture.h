// Fixtures for trainer end-to-end tests: a generated corpus and a tiny training recipe.
#pragma once

#include <cstdio>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/file_io.h"

namespace plume::testing {

// Deterministic pseudo-English: `documents` paragraphs separated by blank lines.
inline std::string GeneratedCorpus(int documents, uint32_t seed = 7) {
  static const char* kWords[] = {
      "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by",
      "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had",
      "they", "you", "were", "their", "one", "all", "we", "can", "her", "has", "there", "been", "if",
      "more", "when", "will", "would", "who", "so", "no", "river", "stone", "light", "garden", "city",
      "winter", "music", "number", "people", "water", "mountain", "letter", "morning", "silver"};
  std::mt19937 rng(seed);
  std::string out;
  for (int d = 0; d < documents; ++d) {
    const int sentences = 2 + static_cast<int>(rng() % 4);
    for (int s = 0; s < sentences; ++s) {
      const int words = 4 + static_cast<int>(rng() % 9);
      for (int w = 0; w < words; ++w) {
        std::string word = kWords[rng() % (sizeof(kWords) / sizeof(kWords[0]))];
        if (w == 0) word[0] = static_cast<char>(std::toupper(word[0]));
        absl::StrAppend(&out, w ? " " : "", word);
      }
      absl::StrAppend(&out, rng() % 5 == 0 ? "!" : ".", s + 1 < sentences ? " " : "");
    }
    absl::StrAppend(&out, "\n\n");
  }
  return out;
}

// A tiny recipe; `extra` is appended (later keys are errors in YAML, so pass new sections only).
inline std::string TinyRecipe(const std::string& corpus, const std::string& output_dir,
                              int max_steps, const std::string& overrides = "") {
  std::string recipe = absl::StrCat(R"(model:
  n_layer: 2
  n_head: 2
  n_embd: 64
  n_positions: 64
  vocab_size: 384
output_dir: )", output_dir, R"(
data:
  train: [)", corpus, R"(]
  format: text
  document_separator: "\n\n"
  validation_fraction: 0.1
training:
  seq_len: 32
  batch_size: 4
  grad_accum: 2
  max_steps: )", max_steps, R"(
  seed: 3
  threads: 1
optimizer:
  name: adamw
  lr: 3.0e-3
  weight_decay: 0.1
  grad_clip: 1.0
schedule:
  kind: cosine
  warmup_steps: 4
  decay_steps: 40
  min_lr_ratio: 0.1
eval:
  every: 5
  batches: 4
checkpoint:
  every: 5
  keep_last: 2
log:
  every: 1
)");
  return recipe + overrides;
}

}  // namespace plume::testing
