#include "trainer/eval_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/utf8.h"

namespace plume::trainer {
namespace {

// Python's str.isspace() (and so re's \s on str patterns): White_Space plus the
// information separators U+001C..U+001F.
bool IsPythonSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

}  // namespace

std::vector<RollingWindow> RollingWindows(int64_t context_tokens, int64_t scored_tokens,
                                          int max_length, int stride) {
  std::vector<RollingWindow> windows;
  // Predicting S[a, b) reads S[b - 1 - max_length, b - 1) clipped at 0: input position p
  // predicts p + 1, and the window ends at the token before its last prediction.
  auto window_for = [&](int64_t a, int64_t b) {
    const int64_t end = b - 1;
    const int64_t begin = std::max<int64_t>(0, end - max_length);
    windows.push_back({begin, static_cast<int>(end - begin), static_cast<int>(b - a)});
  };
  int64_t predicted = 0;
  while (predicted < scored_tokens) {
    const int64_t count = std::min<int64_t>(scored_tokens - predicted, predicted == 0 ? max_length : stride);
    window_for(context_tokens + predicted, context_tokens + predicted + count);
    predicted += count;
  }
  return windows;
}

int64_t CountWords(absl::string_view text) {
  int64_t runs = 0;
  bool in_space = false;
  for (size_t i = 0; i < text.size();) {
    const int len = core::Utf8LengthFromLead(static_cast<unsigned char>(text[i]));
    const bool space = IsPythonSpace(core::DecodeUtf8Unchecked(text.data() + i, len));
    if (space && !in_space) ++runs;
    in_space = space;
    i += len;
  }
  return runs + 1;
}

void MetricSums::Add(const MetricSums& other) {
  nll += other.nll;
  tokens += other.tokens;
  words += other.words;
  bytes += other.bytes;
  documents += other.documents;
}

EvalMetrics EvalMetrics::From(const MetricSums& s) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto per = [&](int64_t count) { return count > 0 ? s.nll / static_cast<double>(count) : nan; };
  EvalMetrics m;
  m.token_cross_entropy = per(s.tokens);
  m.token_perplexity = std::exp(m.token_cross_entropy);
  m.word_perplexity = std::exp(per(s.words));
  m.byte_perplexity = std::exp(per(s.bytes));
  m.bits_per_byte = per(s.bytes) / std::log(2.0);
  return m;
}

}  // namespace plume::trainer
