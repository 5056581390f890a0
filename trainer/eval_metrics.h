// What plume-eval computes, defined as EleutherAI's lm-evaluation-harness defines it so the
// numbers compare with published ones (docs/evaluation.md):
//   - which tokens are predicted from which context: the harness's rolling windows
//     (lm_eval/utils.py get_rolling_token_windows + make_disjoint_window, as used by
//     lm_eval/models/huggingface.py loglikelihood_rolling with prefix_token = EOT);
//   - word/byte perplexity and bits per byte: the harness's loglikelihood_rolling task metrics
//     (lm_eval/api/task.py count_words/count_bytes, lm_eval/api/metrics.py weighted_perplexity,
//     bits_per_byte), summed over documents before dividing (corpus-weighted).
// Torch-free: windows are index arithmetic, metrics are sums.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"

namespace plume::trainer {

// One forward pass of the rolling evaluation. A document is the sequence
//   S = context (>= 1 tokens: EOT, then the prompt for prompt/completion data) + n scored tokens.
// The model reads S[begin, begin + length) and the last `scored` positions are scored: input
// position p predicts S[p + 1]. Every scored token is predicted exactly once over all windows.
struct RollingWindow {
  int64_t begin = 0;
  int length = 0;
  int scored = 0;
};

// The windows for a document of `context_tokens` (>= 1) context and `scored_tokens` tokens to
// predict, with windows of at most `max_length` tokens (the model's context). The first window
// predicts the first min(max_length, n) tokens; each later one predicts the next
// min(stride, remaining) tokens, reading up to max_length tokens that end just before its last
// prediction. stride == max_length gives the harness's disjoint windows (context_len = 1: each
// later window conditions on the single token before it, the last one on a full window);
// stride < max_length gives overlapping windows, i.e. the harness's
// context_len = max_length - stride + 1. With context_tokens == 1 this is exactly
// get_rolling_token_windows(tokens, prefix_token=EOT, max_length, context_len) after
// make_disjoint_window. Requires 1 <= stride <= max_length.
std::vector<RollingWindow> RollingWindows(int64_t context_tokens, int64_t scored_tokens,
                                          int max_length, int stride);

// Words as the harness counts them for word perplexity: len(re.split(r"\s+", text)) in Python,
// i.e. one more than the number of maximal runs of Unicode whitespace (str.isspace()
// characters), so leading/trailing whitespace adds an empty "word". `text` must be valid UTF-8.
int64_t CountWords(absl::string_view text);

// UTF-8 bytes, as the harness's count_bytes (len(text.encode("utf-8"))).
inline int64_t CountBytes(absl::string_view text) { return static_cast<int64_t>(text.size()); }

// Corpus-level sums; documents' sums add up.
struct MetricSums {
  double nll = 0;         // -sum of log-likelihoods of the predicted tokens, in nats
  int64_t tokens = 0;     // predicted (scored) tokens
  int64_t words = 0;      // CountWords of the documents' scored text
  int64_t bytes = 0;      // CountBytes of the documents' scored text
  int64_t documents = 0;  // documents
  void Add(const MetricSums& other);
};

struct EvalMetrics {
  double token_cross_entropy = 0;  // nll / tokens (nats per token)
  double token_perplexity = 0;     // exp(token_cross_entropy)
  double word_perplexity = 0;      // exp(nll / words)
  double byte_perplexity = 0;      // exp(nll / bytes)
  double bits_per_byte = 0;        // nll / bytes / ln 2
  static EvalMetrics From(const MetricSums& sums);  // NaN where a count is 0
};

}  // namespace plume::trainer
