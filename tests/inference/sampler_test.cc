// Each sampler stage on small hand-computed distributions (in the manner of llama.cpp's
// tests/test-sampling.cpp), then the chain as SamplingParams builds it.
#include "inference/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <vector>

namespace plume::inference {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Logits whose softmax is exactly `probs` (they sum to 1).
std::vector<float> LogitsOf(const std::vector<float>& probs) {
  std::vector<float> logits;
  for (float p : probs) logits.push_back(std::log(p));
  return logits;
}

std::vector<int32_t> Ids(TokenCandidates& c) {
  std::vector<int32_t> ids;
  for (const Candidate& x : c.list()) ids.push_back(x.id);
  return ids;
}

TEST(SamplerTest, GreedyPicksTheLargestLogitLowestIdOnTies) {
  std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f};
  TokenCandidates c(absl::MakeSpan(logits));
  GreedyPickStage().Apply(c);
  EXPECT_EQ(c.chosen, 1);
  // Also on a narrowed, unsorted list.
  TokenCandidates narrowed(absl::MakeSpan(logits));
  narrowed.SetList({{3, 3.0f}, {2, 2.0f}, {1, 3.0f}}, /*sorted=*/false);
  GreedyPickStage().Apply(narrowed);
  EXPECT_EQ(narrowed.chosen, 1);
}

TEST(SamplerTest, TemperatureDividesLogits) {
  std::vector<float> logits = {1.0f, 2.0f, -3.0f};
  TokenCandidates c(absl::MakeSpan(logits));
  TemperatureStage(0.5f).Apply(c);
  EXPECT_EQ(logits, (std::vector<float>{2.0f, 4.0f, -6.0f}));
}

TEST(SamplerTest, TopKKeepsTheKMostLikelySorted) {
  std::vector<float> logits = LogitsOf({0.1f, 0.2f, 0.3f, 0.4f});
  TokenCandidates c(absl::MakeSpan(logits));
  TopKStage(2).Apply(c);
  EXPECT_TRUE(c.sorted());
  EXPECT_EQ(Ids(c), (std::vector<int32_t>{3, 2}));
  // k >= size keeps everything untouched.
  std::vector<float> more = LogitsOf({0.5f, 0.5f});
  TokenCandidates all(absl::MakeSpan(more));
  TopKStage(5).Apply(all);
  EXPECT_FALSE(all.narrowed());
  // Ties: lower id first.
  std::vector<float> ties = {0.0f, 1.0f, 1.0f, 1.0f};
  TokenCandidates t(absl::MakeSpan(ties));
  TopKStage(2).Apply(t);
  EXPECT_EQ(Ids(t), (std::vector<int32_t>{1, 2}));
}

TEST(SamplerTest, TopPKeepsTheSmallestSetReachingP) {
  // Sorted probabilities 0.4, 0.3, 0.2, 0.1: cumulative 0.4, 0.7, 0.9, 1.0.
  const std::vector<float> probs = {0.1f, 0.2f, 0.3f, 0.4f};
  const std::map<float, std::vector<int32_t>> expected = {
      {0.35f, {3}}, {0.65f, {3, 2}}, {0.75f, {3, 2, 1}}, {0.95f, {3, 2, 1, 0}}};
  for (const auto& [p, ids] : expected) {
    std::vector<float> logits = LogitsOf(probs);
    TokenCandidates c(absl::MakeSpan(logits));
    TopPStage(p).Apply(c);
    EXPECT_EQ(Ids(c), ids) << "p=" << p;
  }
  // The same after top-k narrowed the list (normalised over the remaining candidates):
  // top-2 leaves 0.4/0.7 and 0.3/0.7 = 0.571, 0.429; p=0.5 keeps only token 3.
  std::vector<float> logits = LogitsOf(probs);
  TokenCandidates c(absl::MakeSpan(logits));
  TopKStage(2).Apply(c);
  TopPStage(0.5f).Apply(c);
  EXPECT_EQ(Ids(c), (std::vector<int32_t>{3}));
}

TEST(SamplerTest, TopPOverALargeVocabularyGrowsItsPrefix) {
  // 1000 equally likely tokens: p=0.5005 needs 501 of them (more than the first 64 looked at).
  std::vector<float> logits(1000, 0.0f);
  TokenCandidates c(absl::MakeSpan(logits));
  TopPStage(0.5005f).Apply(c);
  ASSERT_EQ(c.size(), 501u);
  EXPECT_EQ(c.list().front().id, 0);  // ties: lower ids first
  EXPECT_EQ(c.list().back().id, 500);
}

TEST(SamplerTest, TopPOverTheVocabularyEqualsTheSortedDefinition) {
  // The partitioning search against the definition (sort everything, take the shortest prefix
  // reaching p), on flat (untrained-model-like) and peaked logits of GPT-2's vocabulary size.
  std::mt19937 rng(7);
  for (float spread : {0.05f, 0.3f, 3.0f, 12.0f}) {
    for (float p : {0.1f, 0.5f, 0.9f, 0.95f, 0.999f}) {
      std::normal_distribution<float> normal(0.0f, spread);
      std::vector<float> logits(50257);
      for (float& l : logits) l = normal(rng);
      std::vector<Candidate> sorted;
      for (size_t i = 0; i < logits.size(); ++i) sorted.push_back({static_cast<int32_t>(i), logits[i]});
      std::sort(sorted.begin(), sorted.end(), [](const Candidate& a, const Candidate& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
      });
      const float max_logit = sorted.front().logit;
      double total = 0;
      for (float l : logits) total += std::exp(l - max_logit);
      std::set<int32_t> want;
      double mass = 0;
      for (const Candidate& c : sorted) {
        want.insert(c.id);
        mass += std::exp(c.logit - max_logit);
        if (mass >= p * total) break;
      }
      TokenCandidates c(absl::MakeSpan(logits));
      TopPStage(p).Apply(c);
      std::set<int32_t> got;
      for (const Candidate& kept : c.list()) got.insert(kept.id);
      // Summation order may move the boundary by a token when a prefix lands on p exactly.
      EXPECT_LE(std::max(got.size(), want.size()) - std::min(got.size(), want.size()), 1u)
          << "spread " << spread << " p " << p;
      const std::set<int32_t>& smaller = got.size() <= want.size() ? got : want;
      const std::set<int32_t>& larger = got.size() <= want.size() ? want : got;
      EXPECT_TRUE(std::includes(larger.begin(), larger.end(), smaller.begin(), smaller.end()))
          << "spread " << spread << " p " << p;
    }
  }
}

TEST(SamplerTest, MinPDropsTokensBelowAFractionOfTheBest) {
  // p(max) = 0.4; min_p = 0.6 -> threshold 0.24: keeps 0.3 and 0.4.
  std::vector<float> logits = LogitsOf({0.1f, 0.2f, 0.3f, 0.4f});
  TokenCandidates c(absl::MakeSpan(logits));
  MinPStage(0.6f).Apply(c);
  EXPECT_EQ(Ids(c), (std::vector<int32_t>{2, 3}));
  // min_p = 0.2 -> threshold 0.08: keeps all four.
  std::vector<float> again = LogitsOf({0.1f, 0.2f, 0.3f, 0.4f});
  TokenCandidates d(absl::MakeSpan(again));
  MinPStage(0.2f).Apply(d);
  EXPECT_EQ(d.size(), 4u);
}

TEST(SamplerTest, PenaltiesFollowTheirFormulas) {
  // Prompt {0, 1}; output so far: token 2 twice, token 1 once.
  std::vector<float> logits = {2.0f, -2.0f, 1.0f, 0.5f};
  PenaltyStage stage(/*repetition=*/2.0f, /*presence=*/0.5f, /*frequency=*/0.25f,
                     std::vector<int32_t>{0, 1});
  stage.Accept(2);
  stage.Accept(2);
  stage.Accept(1);
  TokenCandidates c(absl::MakeSpan(logits));
  stage.Apply(c);
  EXPECT_FLOAT_EQ(logits[0], 1.0f);                  // prompt only: 2 / 2
  EXPECT_FLOAT_EQ(logits[1], -4.0f - 0.5f - 0.25f);  // -2 * 2, then presence + 1 x frequency
  EXPECT_FLOAT_EQ(logits[2], 0.5f - 0.5f - 0.5f);    // 1 / 2, then presence + 2 x frequency
  EXPECT_FLOAT_EQ(logits[3], 0.5f);                  // never seen
}

TEST(SamplerTest, PresenceAndFrequencyWithoutRepetitionIgnoreThePrompt) {
  std::vector<float> logits = {1.0f, 1.0f};
  PenaltyStage stage(1.0f, 1.0f, 0.0f, std::vector<int32_t>{0});
  TokenCandidates c(absl::MakeSpan(logits));
  stage.Apply(c);
  EXPECT_EQ(logits, (std::vector<float>{1.0f, 1.0f}));
  stage.Accept(1);
  stage.Apply(c);
  EXPECT_EQ(logits, (std::vector<float>{1.0f, 0.0f}));
}

TEST(SamplerTest, LogitBiasAdds) {
  std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  TokenCandidates c(absl::MakeSpan(logits));
  LogitBiasStage({{0, 5.0f}, {2, -100.0f}}).Apply(c);
  EXPECT_EQ(logits, (std::vector<float>{5.0f, 1.0f, -98.0f}));
}

TEST(SamplerTest, MinTokensSuppressesStoppersUntilEnoughTokens) {
  MinTokensStage stage(2, {1});
  for (int step = 0; step < 3; ++step) {
    std::vector<float> logits = {0.0f, 5.0f};
    TokenCandidates c(absl::MakeSpan(logits));
    stage.Apply(c);
    EXPECT_EQ(logits[1], step < 2 ? kNegInf : 5.0f) << step;
    stage.Accept(0);
  }
}

// The pick uses one uniform u = (rng() >> 11) / 2^53 per token and walks the cumulative
// probabilities: p = {0.1, 0.2, 0.3, 0.4} picks the first token whose cumulative mass exceeds u.
TEST(SamplerTest, RandomPickWalksTheCumulativeDistributionWithItsOwnGenerator) {
  const std::vector<float> probs = {0.1f, 0.2f, 0.3f, 0.4f};
  std::mt19937_64 reference(42);
  RandomPickStage stage(42);
  for (int i = 0; i < 200; ++i) {
    const double u = static_cast<double>(reference() >> 11) * 0x1.0p-53;
    const int expected = u < 0.1 ? 0 : u < 0.3 ? 1 : u < 0.6 ? 2 : 3;
    if (std::abs(u - 0.1) < 1e-6 || std::abs(u - 0.3) < 1e-6 || std::abs(u - 0.6) < 1e-6) continue;
    std::vector<float> logits = LogitsOf(probs);
    TokenCandidates c(absl::MakeSpan(logits));
    stage.Apply(c);
    ASSERT_EQ(c.chosen, expected) << "draw " << i << " u=" << u;
  }
}

TEST(SamplerTest, RandomPickFrequenciesMatchTheDistribution) {
  const std::vector<float> probs = {0.1f, 0.2f, 0.3f, 0.4f};
  RandomPickStage stage(7);
  std::vector<int> counts(4, 0);
  const int n = 40000;
  for (int i = 0; i < n; ++i) {
    std::vector<float> logits = LogitsOf(probs);
    TokenCandidates c(absl::MakeSpan(logits));
    stage.Apply(c);
    ++counts[c.chosen];
  }
  // Standard deviation of a frequency is at most 0.0025 here; 0.01 is four of them.
  for (int t = 0; t < 4; ++t) EXPECT_NEAR(counts[t] / static_cast<double>(n), probs[t], 0.01) << t;
}

TEST(SamplerTest, RandomPickNeverChoosesAnImpossibleToken) {
  RandomPickStage stage(1);
  for (int i = 0; i < 1000; ++i) {
    std::vector<float> logits = {kNegInf, 0.0f, kNegInf, 0.0f};
    TokenCandidates c(absl::MakeSpan(logits));
    stage.Apply(c);
    ASSERT_TRUE(c.chosen == 1 || c.chosen == 3);
  }
}

TEST(SamplerTest, ChainIsBuiltFromParamsInOrder) {
  SamplingParams params;
  EXPECT_EQ(Sampler(params, {}, 0, 1).StageNames(), (std::vector<std::string>{"random"}));
  params.temperature = 0.0f;
  params.top_k = 5;  // irrelevant for greedy
  EXPECT_EQ(Sampler(params, {}, 0, 1).StageNames(), (std::vector<std::string>{"greedy"}));
  params.temperature = 0.7f;
  params.top_p = 0.9f;
  params.min_p = 0.05f;
  params.repetition_penalty = 1.1f;
  params.logit_bias = {{1, 1.0f}};
  params.min_tokens = 3;
  EXPECT_EQ(Sampler(params, {}, 0, 1).StageNames(),
            (std::vector<std::string>{"penalties", "logit_bias", "min_tokens", "temperature",
                                      "top_k", "top_p", "min_p", "random"}));
}

TEST(SamplerTest, ChainAppliesStagesInOrder) {
  // Logits 0..4 (token i has logit i). Bias makes token 0 the best (10); temperature 2 halves
  // everything: {5, 0.5, 1, 1.5, 2}; top-k 2 keeps {0, 4}; greedy is not used: with top_p 0.5
  // only token 0 remains (p = e^5 / (e^5 + e^2) = 0.95), so any seed picks it.
  SamplingParams params;
  params.logit_bias = {{0, 10.0f}};
  params.temperature = 2.0f;
  params.top_k = 2;
  params.top_p = 0.5f;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Sampler sampler(params, {}, std::nullopt, seed);
    std::vector<float> logits = {0.0f, 1.0f, 2.0f, 3.0f, 4.0f};
    EXPECT_EQ(sampler.Sample(absl::MakeSpan(logits)), 0);
  }
}

TEST(SamplerTest, SameSeedSameTokensDifferentSeedDifferentTokens) {
  SamplingParams params;
  auto run = [&](uint64_t seed) {
    Sampler sampler(params, {}, std::nullopt, seed);
    std::vector<int32_t> tokens;
    for (int i = 0; i < 50; ++i) {
      std::vector<float> logits(16, 0.0f);  // uniform
      tokens.push_back(sampler.Sample(absl::MakeSpan(logits)));
    }
    return tokens;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

TEST(SamplerTest, NanLogitsAreNeverChosen) {
  SamplingParams params;
  params.temperature = 0.0f;
  Sampler greedy(params, {}, std::nullopt, 0);
  std::vector<float> logits = {std::nanf(""), 1.0f, std::nanf("")};
  EXPECT_EQ(greedy.Sample(absl::MakeSpan(logits)), 1);
}

TEST(SamplerTest, LogprobsAreThoseOfTheRawDistribution) {
  // probs 1/6, 2/6, 3/6.
  const std::vector<float> logits = {0.0f, std::log(2.0f), std::log(3.0f)};
  const LogprobEntry entry = ComputeLogprobs(logits, 1, 2);
  EXPECT_EQ(entry.chosen.token, 1);
  EXPECT_NEAR(entry.chosen.logprob, std::log(2.0 / 6.0), 1e-6);
  ASSERT_EQ(entry.top.size(), 2u);
  EXPECT_EQ(entry.top[0].token, 2);
  EXPECT_NEAR(entry.top[0].logprob, std::log(0.5), 1e-6);
  EXPECT_EQ(entry.top[1].token, 1);
  EXPECT_TRUE(ComputeLogprobs(logits, 0, 0).top.empty());
}

}  // namespace
}  // namespace plume::inference
