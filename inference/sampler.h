// Next-token selection as a chain of small stages built per request from SamplingParams:
//   penalties -> logit bias -> min-tokens suppression -> temperature -> top-k -> top-p -> min-p
//   -> pick (argmax, or a draw from the seeded RNG of this request).
// Every stage is skipped when its parameter has the "off" value, so the common greedy request is
// one argmax over the logits. Stages work on the full vocabulary in place until a truncating
// stage (top-k/top-p/min-p) narrows it to a short candidate list; the full vocabulary is never
// sorted.
//
// Log probabilities (ComputeLogprobs) are those of the model's raw distribution: log_softmax of
// the logits before any stage, so that they score the model, not the sampling settings.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/types/span.h"
#include "inference/sampling_params.h"

namespace plume::inference {

struct Candidate {
  int32_t id;
  float logit;
};

// The next-token distribution of one sequence while it passes through the chain: the logits of
// the whole vocabulary until a stage narrows them to a list of candidates.
class TokenCandidates {
 public:
  explicit TokenCandidates(absl::Span<float> logits) : logits_(logits) {}

  bool narrowed() const { return narrowed_; }
  // The full-vocabulary logits (index = token id), modified in place; only before narrowing.
  absl::Span<float> logits() { return logits_; }
  // The candidates left, as a list (the whole vocabulary on first use before narrowing).
  std::vector<Candidate>& list();
  // Replaces the candidates by `list` (sorted: by logit, descending).
  void SetList(std::vector<Candidate> list, bool sorted);
  bool sorted() const { return sorted_; }
  // Candidates left.
  size_t size() const { return narrowed_ ? list_.size() : logits_.size(); }
  // Largest logit among the candidates (-inf if none is finite).
  float MaxLogit() const;

  int32_t chosen = -1;  // set by the pick stage

 private:
  absl::Span<float> logits_;
  std::vector<Candidate> list_;
  bool narrowed_ = false;
  bool sorted_ = false;
};

// One link of the chain. Stages hold the per-request state they need (token counts, RNG).
class SamplerStage {
 public:
  virtual ~SamplerStage() = default;
  virtual const char* name() const = 0;
  virtual void Apply(TokenCandidates& candidates) = 0;
  // The token that was appended to the sequence.
  virtual void Accept(int32_t token) {}
};

// Repetition (prompt and output tokens; logit / p if positive, logit * p if negative, as
// HF/vLLM), presence (once per output token) and frequency (per output occurrence) penalties.
class PenaltyStage : public SamplerStage {
 public:
  PenaltyStage(float repetition, float presence, float frequency, absl::Span<const int32_t> prompt);
  const char* name() const override { return "penalties"; }
  void Apply(TokenCandidates& candidates) override;
  void Accept(int32_t token) override { ++output_counts_[token]; }

 private:
  float repetition_, presence_, frequency_;
  absl::flat_hash_set<int32_t> prompt_tokens_;  // only with a repetition penalty
  absl::flat_hash_map<int32_t, int> output_counts_;
};

class LogitBiasStage : public SamplerStage {
 public:
  explicit LogitBiasStage(std::vector<std::pair<int32_t, float>> bias) : bias_(std::move(bias)) {}
  const char* name() const override { return "logit_bias"; }
  void Apply(TokenCandidates& candidates) override;

 private:
  std::vector<std::pair<int32_t, float>> bias_;
};

// Makes `tokens` (EOS and stop tokens) impossible until `min_tokens` tokens were generated.
class MinTokensStage : public SamplerStage {
 public:
  MinTokensStage(int min_tokens, std::vector<int32_t> tokens)
      : min_tokens_(min_tokens), tokens_(std::move(tokens)) {}
  const char* name() const override { return "min_tokens"; }
  void Apply(TokenCandidates& candidates) override;
  void Accept(int32_t token) override { ++generated_; }

 private:
  int min_tokens_;
  std::vector<int32_t> tokens_;
  int generated_ = 0;
};

class TemperatureStage : public SamplerStage {
 public:
  explicit TemperatureStage(float temperature) : temperature_(temperature) {}
  const char* name() const override { return "temperature"; }
  void Apply(TokenCandidates& candidates) override;

 private:
  float temperature_;
};

// Keeps the k largest logits (ties broken towards the lower id), sorted.
class TopKStage : public SamplerStage {
 public:
  explicit TopKStage(int k) : k_(k) {}
  const char* name() const override { return "top_k"; }
  void Apply(TokenCandidates& candidates) override;

 private:
  int k_;
};

// Keeps the smallest set of most likely candidates whose probability reaches p (at least one).
class TopPStage : public SamplerStage {
 public:
  explicit TopPStage(float p) : p_(p) {}
  const char* name() const override { return "top_p"; }
  void Apply(TokenCandidates& candidates) override;

 private:
  float p_;
};

// Keeps the candidates with probability >= p * (probability of the most likely one).
class MinPStage : public SamplerStage {
 public:
  explicit MinPStage(float p) : p_(p) {}
  const char* name() const override { return "min_p"; }
  void Apply(TokenCandidates& candidates) override;

 private:
  float p_;
};

// The most likely candidate (lowest id among equals).
class GreedyPickStage : public SamplerStage {
 public:
  const char* name() const override { return "greedy"; }
  void Apply(TokenCandidates& candidates) override;
};

// A draw from softmax(candidates) with this request's own generator (mt19937_64, one uniform
// double per token), so the same seed and logits give the same token whatever else runs.
class RandomPickStage : public SamplerStage {
 public:
  explicit RandomPickStage(uint64_t seed) : rng_(seed) {}
  const char* name() const override { return "random"; }
  void Apply(TokenCandidates& candidates) override;

 private:
  std::mt19937_64 rng_;
  std::vector<float> weights_;  // scratch
};

class Sampler {
 public:
  // Builds the chain for validated `params`. `prompt` feeds the repetition penalty; `eos_id`
  // (unless params.ignore_eos) and params.stop_token_ids are suppressed until min_tokens; `seed`
  // drives the random pick (params.seed, or one the engine chose).
  Sampler(const SamplingParams& params, absl::Span<const int32_t> prompt,
          std::optional<int32_t> eos_id, uint64_t seed);

  // Chooses the next token from `logits` [V] (modified in place) and records it as appended.
  int32_t Sample(absl::Span<float> logits);

  std::vector<std::string> StageNames() const;

 private:
  std::vector<std::unique_ptr<SamplerStage>> stages_;
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
};

struct LogprobEntry {
  TokenLogprob chosen;            // the sampled token
  std::vector<TokenLogprob> top;  // the `top_n` most likely tokens, most likely first
};

// Log probabilities under log_softmax(raw_logits) of `chosen` and of the `top_n` most likely
// tokens (ties: lower id first).
LogprobEntry ComputeLogprobs(absl::Span<const float> raw_logits, int32_t chosen, int top_n);

}  // namespace plume::inference
