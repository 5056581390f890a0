// A training recipe: YAML (configs/train/*.yaml) -> TrainConfig -> Validate(). Paths are relative
// to the working directory. A few keys can be overridden by plume-train's flags.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/gpt_config.h"
#include "trainer/adam_optimizer.h"
#include "trainer/lr_schedule.h"

namespace plume::trainer {

enum class CorpusFormat {
  kAuto,              // .jsonl files as kJsonl, everything else as kText
  kText,              // plain UTF-8 text
  kJsonl,             // one JSON object per line; the document is `text_field`
  kPromptCompletion,  // JSONL with prompt and completion; loss on completion tokens only
};

// "auto", "text", "jsonl", "prompt_completion" <-> CorpusFormat.
absl::StatusOr<CorpusFormat> ParseCorpusFormat(absl::string_view name);
const char* CorpusFormatName(CorpusFormat format);

struct DataConfig {
  std::vector<std::string> train;       // files, directories (recursive) and globs
  std::vector<std::string> validation;  // held-out corpus; empty = split `train` by document
  CorpusFormat format = CorpusFormat::kAuto;
  std::string text_field = "text";               // kJsonl
  std::string prompt_field = "prompt";           // kPromptCompletion
  std::string completion_field = "completion";   // kPromptCompletion
  std::string document_separator;  // plain text: documents end at this string; "" = one per file
  double validation_fraction = 0.05;  // documents held out when `validation` is empty
  uint64_t split_seed = 1234;         // which documents are held out
  bool replace_invalid_utf8 = false;  // false: invalid UTF-8 is an error naming file and offset
  std::string cache_dir;              // token shard cache; "" = <output_dir>/cache
};

struct TrainConfig {
  // Model start: `init` (a Plume or Hugging Face GPT-2 checkpoint directory) or, when empty, a
  // random model of shape `model`.
  std::string init;
  std::optional<core::GptConfig> model;
  // Tokenizer directory or tokenizer.json; "" = the init checkpoint's, else one is trained on the
  // training corpus with model.vocab_size entries.
  std::string tokenizer;

  std::string output_dir;  // run directory: checkpoints, metrics.jsonl, cache
  DataConfig data;

  int seq_len = 256;      // tokens per training sequence (<= n_positions)
  int batch_size = 8;     // sequences per micro-batch
  int grad_accum = 1;     // micro-batches per optimizer step
  int max_steps = 1000;   // optimizer steps of the run
  uint64_t seed = 1;      // model init, data order and dropout
  int threads = 0;        // LibTorch intra-op threads; 0 = all cores

  std::string optimizer = "adamw";  // adamw | adam
  AdamOptions adam;
  double grad_clip = 1.0;           // global gradient-norm limit; 0 = off
  LrSchedule schedule;              // decay_steps 0 = max_steps

  int eval_every = 100;        // validation every N steps (and at every checkpoint); 0 = only then
  int eval_batches = 50;       // validation micro-batches per evaluation; 0 = the whole split
  int checkpoint_every = 200;  // 0 = only at the end
  int keep_last = 2;           // newest checkpoints kept
  bool keep_best = true;       // also keep the checkpoint with the best validation loss
  int log_every = 10;          // metrics.jsonl / log line every N steps

  // Parses a recipe; unknown keys and ill-typed values are errors naming file and line. Call
  // Validate() after applying command-line overrides.
  static absl::StatusOr<TrainConfig> FromYaml(absl::string_view text, absl::string_view source);
  static absl::StatusOr<TrainConfig> FromYamlFile(const std::string& path);
  absl::Status Validate() const;

  // The settings that define a run's results (everything but output_dir and max_steps) as
  // canonical JSON: resuming with different ones is refused.
  std::string IdentityJson() const;
};

}  // namespace plume::trainer
