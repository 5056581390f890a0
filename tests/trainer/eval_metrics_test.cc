// Rolling windows against lm-evaluation-harness's own expected outputs (its tests/test_utils.py
// cases for get_rolling_token_windows, prefix token -100, tokens 0..n-1), word counting as
// Python's len(re.split(r"\s+", text)), and the metric formulas.
#include "trainer/eval_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <utility>
#include <vector>

namespace plume::trainer {
namespace {

using Ids = std::vector<int64_t>;
using Pair = std::pair<Ids, Ids>;  // (model input, predicted tokens), as the harness yields them

Ids Range(int64_t a, int64_t b) {
  Ids out;
  for (int64_t i = a; i < b; ++i) out.push_back(i);
  return out;
}

// Our windows over S = [-100, 0, 1, ..., n-1] as the harness's (input, predictions) pairs.
std::vector<Pair> AsHarnessPairs(int64_t n, int max_length, int stride) {
  Ids s = {-100};
  for (int64_t i = 0; i < n; ++i) s.push_back(i);
  std::vector<Pair> out;
  for (const RollingWindow& w : RollingWindows(1, n, max_length, stride)) {
    Ids input(s.begin() + w.begin, s.begin() + w.begin + w.length);
    Ids predicted(s.begin() + w.begin + w.length - w.scored + 1, s.begin() + w.begin + w.length + 1);
    out.emplace_back(input, predicted);
  }
  return out;
}

// Harness test_get_rolling_token_windows_v1: max_seq_len 10, context_len 1 (stride 10), 34 tokens.
TEST(RollingWindowsTest, HarnessV1Disjoint) {
  const std::vector<Pair> gold = {
      {{-100, 0, 1, 2, 3, 4, 5, 6, 7, 8}, Range(0, 10)},
      {Range(9, 19), Range(10, 20)},
      {Range(19, 29), Range(20, 30)},
      {Range(23, 33), Range(30, 34)},
  };
  EXPECT_EQ(AsHarnessPairs(34, 10, 10), gold);
}

// v2: context_len 8 -> 3 new tokens per window.
TEST(RollingWindowsTest, HarnessV2Overlapping) {
  const std::vector<Pair> gold = {
      {{-100, 0, 1, 2, 3, 4, 5, 6, 7, 8}, Range(0, 10)},
      {Range(2, 12), Range(10, 13)},
      {Range(5, 15), Range(13, 16)},
      {Range(8, 18), Range(16, 19)},
      {Range(11, 21), Range(19, 22)},
      {Range(14, 24), Range(22, 25)},
      {Range(17, 27), Range(25, 28)},
      {Range(20, 30), Range(28, 31)},
      {Range(23, 33), Range(31, 34)},
  };
  EXPECT_EQ(AsHarnessPairs(34, 10, 3), gold);
}

// v3/v4: context_len 10 -> one new token per window (the sliding window).
TEST(RollingWindowsTest, HarnessV3V4Sliding) {
  for (int64_t n : {34, 30}) {
    std::vector<Pair> gold = {{{-100, 0, 1, 2, 3, 4, 5, 6, 7, 8}, Range(0, 10)}};
    for (int64_t t = 10; t < n; ++t) gold.push_back({Range(t - 10, t), {t}});
    EXPECT_EQ(AsHarnessPairs(n, 10, 1), gold) << n;
  }
}

// v5: the document ends exactly at a window boundary; v6: windows of two tokens.
TEST(RollingWindowsTest, HarnessV5V6) {
  const std::vector<Pair> v5 = {
      {{-100, 0, 1, 2, 3, 4, 5, 6, 7, 8}, Range(0, 10)},
      {Range(9, 19), Range(10, 20)},
      {Range(19, 29), Range(20, 30)},
  };
  EXPECT_EQ(AsHarnessPairs(30, 10, 10), v5);
  const std::vector<Pair> v6 = {
      {{-100, 0}, {0, 1}}, {{1, 2}, {2, 3}}, {{3, 4}, {4, 5}}, {{5, 6}, {6, 7}}, {{6, 7}, {8}},
  };
  EXPECT_EQ(AsHarnessPairs(9, 2, 2), v6);
}

TEST(RollingWindowsTest, EmptyAndShortDocuments) {
  EXPECT_TRUE(RollingWindows(1, 0, 10, 10).empty());
  const std::vector<Pair> one = {{{-100}, {0}}};
  EXPECT_EQ(AsHarnessPairs(1, 10, 10), one);
  const std::vector<Pair> four = {{{-100, 0, 1, 2}, {0, 1, 2, 3}}};
  EXPECT_EQ(AsHarnessPairs(4, 10, 3), four);
}

// Every token is predicted exactly once, no window exceeds max_length, and windows after the
// first read a full max_length tokens.
TEST(RollingWindowsTest, CoverEveryTokenOnceWithinTheWindow) {
  for (int64_t context : {1, 3, 40}) {
    for (int64_t n : {1, 7, 64, 65, 200}) {
      for (int max_length : {1, 8, 64}) {
        for (int stride : {1, 3, max_length}) {
          if (stride > max_length) continue;
          std::vector<int> seen(n, 0);
          for (const RollingWindow& w : RollingWindows(context, n, max_length, stride)) {
            ASSERT_GE(w.begin, 0);
            ASSERT_LE(w.length, max_length);
            ASSERT_GE(w.scored, 1);
            ASSERT_LE(w.scored, w.length);
            for (int p = w.length - w.scored; p < w.length; ++p) {
              const int64_t target = w.begin + p + 1 - context;  // index in the scored tokens
              ASSERT_GE(target, 0);
              ASSERT_LT(target, n);
              ++seen[target];
            }
            if (w.begin > 0) {
              EXPECT_EQ(w.length, max_length);
            }
          }
          for (int64_t t = 0; t < n; ++t) ASSERT_EQ(seen[t], 1) << context << " " << n << " " << max_length;
        }
      }
    }
  }
}

// A long prompt (context) is cut from the left to fit the first window.
TEST(RollingWindowsTest, ContextIsTruncatedFromTheLeft) {
  const auto windows = RollingWindows(/*context_tokens=*/20, /*scored_tokens=*/3, /*max_length=*/8, 8);
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(windows[0].begin, 22 - 8);  // reads S[14, 22): the last scored token (S[22]) is predicted
  EXPECT_EQ(windows[0].length, 8);
  EXPECT_EQ(windows[0].scored, 3);
}

// Expected counts are what Python prints for len(re.split(r"\s+", text)).
TEST(CountWordsTest, AsPythonReSplit) {
  EXPECT_EQ(CountWords(""), 1);
  EXPECT_EQ(CountWords("word"), 1);
  EXPECT_EQ(CountWords("two words"), 2);
  EXPECT_EQ(CountWords(" a  b "), 4);       // ['', 'a', 'b', '']
  EXPECT_EQ(CountWords("a\n\n\tb\r\nc"), 3);
  EXPECT_EQ(CountWords("a\x0b" "b\x0c" "c"), 3);
  EXPECT_EQ(CountWords("a\x1c" "b\x1f" "c"), 3);   // information separators are \s in Python
  EXPECT_EQ(CountWords("no\xC2\xA0" "break"), 2);  // U+00A0
  EXPECT_EQ(CountWords("x\xC2\x85y"), 2);          // U+0085
  EXPECT_EQ(CountWords("\xE3\x80\x80" "a"), 2);    // U+3000 leading
  EXPECT_EQ(CountWords("a\xE2\x80\x8B" "b"), 1);   // U+200B zero width space is not \s
  EXPECT_EQ(CountWords("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC"), 2);
}

TEST(EvalMetricsTest, Formulas) {
  MetricSums a{10.0, 5, 4, 20, 2}, b{2.0, 1, 1, 5, 1};
  a.Add(b);
  EXPECT_DOUBLE_EQ(a.nll, 12.0);
  EXPECT_EQ(a.tokens, 6);
  EXPECT_EQ(a.words, 5);
  EXPECT_EQ(a.bytes, 25);
  EXPECT_EQ(a.documents, 3);
  const EvalMetrics m = EvalMetrics::From(a);
  EXPECT_DOUBLE_EQ(m.token_cross_entropy, 2.0);
  EXPECT_DOUBLE_EQ(m.token_perplexity, std::exp(2.0));
  EXPECT_DOUBLE_EQ(m.word_perplexity, std::exp(12.0 / 5));
  EXPECT_DOUBLE_EQ(m.byte_perplexity, std::exp(12.0 / 25));
  EXPECT_DOUBLE_EQ(m.bits_per_byte, 12.0 / 25 / std::log(2.0));
  EXPECT_TRUE(std::isnan(EvalMetrics::From(MetricSums{}).token_cross_entropy));
}

}  // namespace
}  // namespace plume::trainer
