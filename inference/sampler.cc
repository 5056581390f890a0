#include "inference/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace plume::inference {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr size_t kSortedTopPLimit = 4096;  // top-p results up to this size are kept in order

// Candidate order: larger logit first, then lower id (so results never depend on sort stability).
bool Better(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// The k best of `logits` (token id = index), best first, in O(V log k).
std::vector<Candidate> TopOfVocabulary(absl::Span<const float> logits, size_t k) {
  std::vector<Candidate> heap;
  k = std::min(k, logits.size());
  heap.reserve(k);
  // With Better as the heap order, heap.front() is the worst candidate kept so far.
  for (size_t i = 0; i < logits.size(); ++i) {
    const Candidate c{static_cast<int32_t>(i), logits[i]};
    if (heap.size() < k) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), Better);
    } else if (Better(c, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), Better);
      heap.back() = c;
      std::push_heap(heap.begin(), heap.end(), Better);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), Better);
  return heap;
}

// Adds `f(logit)` semantics to one token wherever the candidates keep it.
template <typename F>
void UpdateToken(TokenCandidates& candidates, int32_t id, F f) {
  if (!candidates.narrowed()) {
    absl::Span<float> logits = candidates.logits();
    if (id >= 0 && static_cast<size_t>(id) < logits.size()) logits[id] = f(logits[id]);
    return;
  }
  for (Candidate& c : candidates.list()) {
    if (c.id == id) c.logit = f(c.logit);
  }
}

double UniformDouble(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;  // [0, 1), 53 random bits
}

}  // namespace

std::vector<Candidate>& TokenCandidates::list() {
  if (!narrowed_) {
    list_.resize(logits_.size());
    for (size_t i = 0; i < logits_.size(); ++i) list_[i] = {static_cast<int32_t>(i), logits_[i]};
    narrowed_ = true;
    sorted_ = false;
  }
  return list_;
}

void TokenCandidates::SetList(std::vector<Candidate> list, bool sorted) {
  list_ = std::move(list);
  narrowed_ = true;
  sorted_ = sorted;
}

float TokenCandidates::MaxLogit() const {
  if (narrowed_ && sorted_) return list_.empty() ? kNegInf : list_.front().logit;
  float m = kNegInf;
  if (narrowed_) {
    for (const Candidate& c : list_) m = std::max(m, c.logit);
  } else {
    for (float l : logits_) m = std::max(m, l);
  }
  return m;
}

PenaltyStage::PenaltyStage(float repetition, float presence, float frequency,
                           absl::Span<const int32_t> prompt)
    : repetition_(repetition), presence_(presence), frequency_(frequency) {
  if (repetition_ != 1.0f) prompt_tokens_.insert(prompt.begin(), prompt.end());
}

void PenaltyStage::Apply(TokenCandidates& candidates) {
  const float r = repetition_;
  auto repeat = [r](float logit) { return logit > 0 ? logit / r : logit * r; };
  if (r != 1.0f) {
    for (int32_t token : prompt_tokens_) {
      if (!output_counts_.contains(token)) UpdateToken(candidates, token, repeat);
    }
  }
  for (const auto& [token, count] : output_counts_) {
    const float subtract = presence_ + frequency_ * static_cast<float>(count);
    UpdateToken(candidates, token, [&](float logit) {
      if (r != 1.0f) logit = repeat(logit);
      return logit - subtract;
    });
  }
}

void LogitBiasStage::Apply(TokenCandidates& candidates) {
  for (const auto& [token, bias] : bias_) {
    UpdateToken(candidates, token, [b = bias](float logit) { return logit + b; });
  }
}

void MinTokensStage::Apply(TokenCandidates& candidates) {
  if (generated_ >= min_tokens_) return;
  for (int32_t token : tokens_) UpdateToken(candidates, token, [](float) { return kNegInf; });
}

void TemperatureStage::Apply(TokenCandidates& candidates) {
  const float scale = 1.0f / temperature_;
  if (candidates.narrowed()) {
    for (Candidate& c : candidates.list()) c.logit *= scale;
  } else {
    for (float& l : candidates.logits()) l *= scale;
  }
}

void TopKStage::Apply(TokenCandidates& candidates) {
  const size_t k = static_cast<size_t>(k_);
  if (k >= candidates.size()) return;
  if (!candidates.narrowed()) {
    candidates.SetList(TopOfVocabulary(candidates.logits(), k), /*sorted=*/true);
    return;
  }
  std::vector<Candidate> list = std::move(candidates.list());
  if (candidates.sorted()) {
    list.resize(k);
  } else {
    std::partial_sort(list.begin(), list.begin() + k, list.end(), Better);
    list.resize(k);
  }
  candidates.SetList(std::move(list), /*sorted=*/true);
}

void TopPStage::Apply(TokenCandidates& candidates) {
  if (p_ >= 1.0f || candidates.size() <= 1) return;
  const float max_logit = candidates.MaxLogit();
  if (max_logit == kNegInf) return;
  // Normaliser over every candidate: the kept set is the smallest best set with mass >= p.
  double total = 0;
  if (candidates.narrowed()) {
    for (const Candidate& c : candidates.list()) total += std::exp(c.logit - max_logit);
  } else {
    for (float l : candidates.logits()) total += std::exp(l - max_logit);
  }
  const double target = static_cast<double>(p_) * total;
  if (candidates.narrowed() && candidates.sorted()) {
    // Already in order (after top-k): grow the prefix until it holds mass p.
    std::vector<Candidate> list = std::move(candidates.list());
    double mass = 0;
    for (size_t i = 0; i < list.size(); ++i) {
      mass += std::exp(list[i].logit - max_logit);
      if (mass >= target) {
        list.resize(i + 1);
        break;
      }
    }  // not reached (rounding left the mass short of p): keep all
    candidates.SetList(std::move(list), /*sorted=*/true);
    return;
  }
  // Unordered (often the whole vocabulary, nearly flat for an untrained model, where the set
  // holds most tokens): find the smallest best set by repeated partitioning around the middle
  // of the undecided range, in expected O(V), instead of sorting. Invariant: the best `lo`
  // candidates hold less than the target mass (`before`), the best `hi` reach it.
  std::vector<Candidate> list = std::move(candidates.list());
  size_t lo = 0, hi = list.size();
  double before = 0;
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    std::nth_element(list.begin() + lo, list.begin() + mid, list.begin() + hi, Better);
    double mass = 0;  // of list[lo, mid), each better than everything in list[mid, hi)
    for (size_t i = lo; i < mid; ++i) mass += std::exp(list[i].logit - max_logit);
    if (before + mass >= target) {
      hi = mid;
    } else {
      before += mass;
      lo = mid;
    }
  }
  list.resize(hi);
  // Order only a small result (the candidates' order matters to nobody but readers; the pick
  // is deterministic either way).
  const bool sort = list.size() <= kSortedTopPLimit;
  if (sort) std::sort(list.begin(), list.end(), Better);
  candidates.SetList(std::move(list), sort);
}

void MinPStage::Apply(TokenCandidates& candidates) {
  if (p_ <= 0.0f) return;
  const float max_logit = candidates.MaxLogit();
  if (max_logit == kNegInf) return;
  // p(token) >= p * p(max)  <=>  logit >= max_logit + log(p).
  const float threshold = max_logit + std::log(p_);
  std::vector<Candidate> kept;
  if (candidates.narrowed()) {
    for (const Candidate& c : candidates.list()) {
      if (c.logit >= threshold) kept.push_back(c);
    }
    candidates.SetList(std::move(kept), candidates.sorted());
    return;
  }
  absl::Span<float> logits = candidates.logits();
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] >= threshold) kept.push_back({static_cast<int32_t>(i), logits[i]});
  }
  candidates.SetList(std::move(kept), /*sorted=*/false);
}

void GreedyPickStage::Apply(TokenCandidates& candidates) {
  if (!candidates.narrowed()) {
    absl::Span<float> logits = candidates.logits();
    candidates.chosen =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    return;
  }
  const std::vector<Candidate>& list = candidates.list();
  if (list.empty()) return;
  candidates.chosen =
      (candidates.sorted() ? list.front() : *std::min_element(list.begin(), list.end(), Better)).id;
}

void RandomPickStage::Apply(TokenCandidates& candidates) {
  const double u = UniformDouble(rng_);  // drawn first: one per token, whatever happens below
  const float max_logit = candidates.MaxLogit();
  if (max_logit == kNegInf) {  // nothing is possible: fall back to the first candidate
    GreedyPickStage().Apply(candidates);
    return;
  }
  const bool narrowed = candidates.narrowed();
  const size_t n = candidates.size();
  weights_.resize(n);
  double total = 0;
  if (narrowed) {
    const std::vector<Candidate>& list = candidates.list();
    for (size_t i = 0; i < n; ++i) total += weights_[i] = std::exp(list[i].logit - max_logit);
  } else {
    absl::Span<float> logits = candidates.logits();
    for (size_t i = 0; i < n; ++i) total += weights_[i] = std::exp(logits[i] - max_logit);
  }
  const double target = u * total;
  double mass = 0;
  size_t pick = n;
  size_t last_possible = 0;
  for (size_t i = 0; i < n; ++i) {
    if (weights_[i] <= 0) continue;
    last_possible = i;
    mass += weights_[i];
    if (mass > target) {
      pick = i;
      break;
    }
  }
  if (pick == n) pick = last_possible;  // rounding at the very top of the range
  candidates.chosen = narrowed ? candidates.list()[pick].id : static_cast<int32_t>(pick);
}

Sampler::Sampler(const SamplingParams& params, absl::Span<const int32_t> prompt,
                 std::optional<int32_t> eos_id, uint64_t seed) {
  if (params.repetition_penalty != 1.0f || params.presence_penalty != 0.0f ||
      params.frequency_penalty != 0.0f) {
    stages_.push_back(std::make_unique<PenaltyStage>(
        params.repetition_penalty, params.presence_penalty, params.frequency_penalty, prompt));
  }
  if (!params.logit_bias.empty())
    stages_.push_back(std::make_unique<LogitBiasStage>(params.logit_bias));
  if (params.min_tokens > 0) {
    std::vector<int32_t> stoppers = params.stop_token_ids;
    if (eos_id.has_value() && !params.ignore_eos) stoppers.push_back(*eos_id);
    if (!stoppers.empty()) {
      stages_.push_back(std::make_unique<MinTokensStage>(params.min_tokens, std::move(stoppers)));
    }
  }
  if (params.greedy()) {
    // Truncation never removes the most likely token, so greedy needs no top-k/p or min-p.
    stages_.push_back(std::make_unique<GreedyPickStage>());
    return;
  }
  if (params.temperature != 1.0f) {
    stages_.push_back(std::make_unique<TemperatureStage>(params.temperature));
  }
  if (params.top_k > 0) stages_.push_back(std::make_unique<TopKStage>(params.top_k));
  if (params.top_p < 1.0f) stages_.push_back(std::make_unique<TopPStage>(params.top_p));
  if (params.min_p > 0.0f) stages_.push_back(std::make_unique<MinPStage>(params.min_p));
  stages_.push_back(std::make_unique<RandomPickStage>(seed));
}

int32_t Sampler::Sample(absl::Span<float> logits) {
  for (float& l : logits) {
    if (std::isnan(l)) l = kNegInf;  // a NaN would break every comparison below
  }
  TokenCandidates candidates(logits);
  for (auto& stage : stages_) stage->Apply(candidates);
  const int32_t token = candidates.chosen >= 0 ? candidates.chosen : 0;
  for (auto& stage : stages_) stage->Accept(token);
  return token;
}

std::vector<std::string> Sampler::StageNames() const {
  std::vector<std::string> names;
  for (const auto& stage : stages_) names.push_back(stage->name());
  return names;
}

LogprobEntry ComputeLogprobs(absl::Span<const float> raw_logits, int32_t chosen, int top_n) {
  float max_logit = kNegInf;
  for (float l : raw_logits) {
    if (l > max_logit) max_logit = l;  // NaN never compares greater
  }
  double total = 0;
  for (float l : raw_logits) {
    if (l > kNegInf) total += std::exp(static_cast<double>(l) - max_logit);
  }
  const double log_z = max_logit + std::log(total);
  auto logprob = [&](float logit) {
    return std::isnan(logit) ? kNegInf : static_cast<float>(logit - log_z);
  };
  LogprobEntry entry;
  entry.chosen = {chosen, chosen >= 0 && static_cast<size_t>(chosen) < raw_logits.size()
                              ? logprob(raw_logits[chosen])
                              : kNegInf};
  if (top_n > 0) {
    for (const Candidate& c : TopOfVocabulary(raw_logits, static_cast<size_t>(top_n))) {
      entry.top.push_back({c.id, logprob(c.logit)});
    }
  }
  return entry;
}

}  // namespace plume::inference
