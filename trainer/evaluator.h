// Scores checkpoints on held-out corpora: each checkpoint's own tokenizer, the harness's rolling
// windows (trainer/eval_metrics.h), batched no-grad forward passes over windows of many
// documents at once, per-token losses from the chunked LM head. A checkpoint that cannot be
// loaded or scored yields a failed result with a one-line reason; the others are unaffected.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/gpt_config.h"
#include "core/tokenizer.h"
#include "trainer/eval_inputs.h"
#include "trainer/eval_metrics.h"

namespace plume::core {
class GptImpl;
}

namespace plume::trainer {

struct EvalOptions {
  int max_length = 0;      // tokens per window; 0 = the model's n_positions (the harness's max_length)
  int stride = 0;          // tokens predicted per window after the first; 0 = max_length (disjoint)
  int batch_size = 8;      // full-length windows per forward pass; shorter windows are packed
                           // into the same token budget (batch_size * max_length)
  std::string tokenizer;   // tokenizer directory or tokenizer.json for every checkpoint; "" = each
                           // checkpoint's own files
  std::vector<std::string> prompts;  // greedy continuations of these per checkpoint; empty = none
  int max_new_tokens = 32;           // tokens generated per prompt
  int threads = 0;                   // tokenisation threads; 0 = all cores
  absl::Status Validate() const;
};

// A document tokenized for scoring: context ids (EOT, then the prompt's) followed by the ids
// that are scored.
struct TokenizedDocument {
  std::vector<int32_t> ids;
  int64_t context = 1;
};

struct ScoreStats {
  double nll = 0;         // summed -log p of the scored tokens (nats)
  int64_t tokens = 0;     // scored tokens
  int64_t windows = 0;    // rolling windows
  int64_t positions = 0;  // token positions run through the model (context included, no padding)
  int64_t forward_passes = 0;
  double seconds = 0;
};

// Scores `docs` with windows of `max_length` tokens and `stride` (both resolved, >= 1), in
// forward passes of at most `batch_size * max_length` tokens. No gradients. Throws on LibTorch
// errors.
ScoreStats ScoreDocuments(core::GptImpl& model, const std::vector<TokenizedDocument>& docs,
                          int max_length, int stride, int batch_size);

// Greedy decoding of `prompt` (after EOT) for up to `max_new_tokens`, stopping at EOT; returns
// the generated text only.
absl::StatusOr<std::string> GreedyContinuation(core::GptImpl& model, const core::Tokenizer& tokenizer,
                                               const std::string& prompt, int max_new_tokens);

struct CorpusResult {
  std::string corpus;  // EvalCorpus::name
  MetricSums sums;
  EvalMetrics metrics;
  ScoreStats stats;
  double tokens_per_second = 0;  // scored tokens per second of scoring
};

struct Continuation {
  std::string prompt;
  std::string text;
};

struct CheckpointResult {
  CheckpointRef ref;
  std::string error;  // one line; empty = evaluated
  bool ok() const { return error.empty(); }

  // Provenance (filled as far as loading got).
  std::optional<core::GptConfig> config;
  std::string config_sha256, weights_sha256;
  std::string tokenizer_source;       // directory or file the tokenizer was read from
  std::string tokenizer_fingerprint;  // digest of its files
  int tokenizer_vocab_size = 0;
  int max_length = 0, stride = 0;     // resolved window settings

  std::vector<CorpusResult> corpora;
  std::vector<Continuation> continuations;
  double load_seconds = 0;
  double total_seconds = 0;
};

class Evaluator {
 public:
  // `corpora` must outlive the evaluator. Options must be valid.
  Evaluator(const std::vector<EvalCorpus>& corpora, EvalOptions options);

  // Loads, checks and scores one checkpoint on every corpus. Never throws.
  CheckpointResult Evaluate(const CheckpointRef& checkpoint);

 private:
  absl::Status EvaluateInto(CheckpointResult& result);
  // The corpora tokenized by `tokenizer`, cached by its fingerprint (a run shares one).
  absl::StatusOr<const std::vector<std::vector<TokenizedDocument>>*> Tokenized(
      const core::Tokenizer& tokenizer, const std::string& fingerprint);

  const std::vector<EvalCorpus>& corpora_;
  EvalOptions options_;
  std::map<std::string, std::vector<std::vector<TokenizedDocument>>> tokenized_;
};

}  // namespace plume::trainer
