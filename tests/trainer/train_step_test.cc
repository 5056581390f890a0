#include "trainer/train_step.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/gpt.h"
#include "trainer/adam_optimizer.h"

namespace plume::trainer {
namespace {

core::GptConfig Tiny() {
  core::GptConfig c;
  c.n_layer = 2; c.n_head = 2; c.n_embd = 32; c.n_positions = 32; c.vocab_size = 61;
  return c;
}

NamedTensors Params(core::Gpt& model) {
  NamedTensors out;
  for (auto& p : model->named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

// Gradient accumulation over micro-batches of unequal target counts must equal one full batch:
// the loss is normalised by target tokens, not by micro-batches.
TEST(TrainStepTest, AccumulationEqualsFullBatch) {
  torch::manual_seed(0);
  auto inputs = torch::randint(0, 61, {4, 16}, torch::kInt64);
  auto targets = torch::randint(0, 61, {4, 16}, torch::kInt64);
  targets.narrow(0, 0, 1).narrow(1, 0, 12).fill_(kIgnoreIndex);  // first row: 4 targets only
  torch::manual_seed(1);
  core::Gpt full(Tiny());
  torch::manual_seed(1);
  core::Gpt accum(Tiny());
  AdamOptimizer opt_full(Params(full), {}), opt_accum(Params(accum), {});
  auto r_full = TrainStep(*full, opt_full, {{inputs, targets}}, 1e-3, 1.0);
  auto r_accum = TrainStep(*accum, opt_accum,
                           {{inputs.narrow(0, 0, 1), targets.narrow(0, 0, 1)},
                            {inputs.narrow(0, 1, 3), targets.narrow(0, 1, 3)}},
                           1e-3, 1.0);
  EXPECT_EQ(r_full.tokens, 4 + 3 * 16);
  EXPECT_EQ(r_accum.tokens, r_full.tokens);
  EXPECT_NEAR(r_accum.loss, r_full.loss, 1e-5);
  EXPECT_NEAR(r_accum.grad_norm, r_full.grad_norm, 1e-4);
  auto a = full->named_parameters(), b = accum->named_parameters();
  for (const auto& item : a) {
    EXPECT_TRUE(torch::allclose(item.value(), b[item.key()], 1e-5, 1e-6)) << item.key();
  }
  // The reported loss is the mean cross-entropy of the model before the update.
  auto check = EvaluateLoss(*accum, {{inputs, targets}});
  EXPECT_EQ(check.tokens, r_full.tokens);
}

TEST(TrainStepTest, LossDecreasesOnARepeatedBatch) {
  torch::manual_seed(0);
  core::Gpt model(Tiny());
  AdamOptimizer opt(Params(model), {});
  auto inputs = torch::randint(0, 61, {2, 16}, torch::kInt64);
  auto targets = torch::roll(inputs, -1, 1);
  const double first = TrainStep(*model, opt, {{inputs, targets}}, 3e-3, 1.0).loss;
  double last = first;
  for (int i = 0; i < 30; ++i) last = TrainStep(*model, opt, {{inputs, targets}}, 3e-3, 1.0).loss;
  EXPECT_LT(last, first * 0.5);
  auto eval = EvaluateLoss(*model, {{inputs, targets}});
  EXPECT_LT(eval.sum / eval.tokens, first * 0.5);
}

}  // namespace
}  // namespace plume::trainer
