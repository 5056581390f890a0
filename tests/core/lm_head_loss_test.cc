#include "core/lm_head_loss.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace plume::core {
namespace {

namespace F = torch::nn::functional;

struct Case {
  torch::Tensor hidden, weight, targets;
};

Case MakeCase() {
  torch::manual_seed(7);
  Case c{torch::randn({37, 16}, torch::requires_grad()), torch::randn({53, 16}, torch::requires_grad()),
         torch::randint(0, 53, {37}, torch::kInt64)};
  c.targets[3] = -100;
  c.targets[20] = -100;
  return c;
}

TEST(LmHeadLossTest, TokenLossesMatchCrossEntropy) {
  Case c = MakeCase();
  auto logits = torch::mm(c.hidden, c.weight.t());
  auto expected = F::cross_entropy(logits, c.targets, F::CrossEntropyFuncOptions().reduction(torch::kNone));
  // Chunk sizes that divide the rows, do not, and exceed them.
  for (int64_t chunk : {1, 5, 37, 100}) {
    auto losses = LmHeadTokenLosses(c.hidden, c.weight, c.targets, -100, chunk);
    EXPECT_TRUE(torch::allclose(losses, expected.detach(), 1e-5, 1e-5)) << "chunk " << chunk;
  }
}

TEST(LmHeadLossTest, LossAndGradientsMatchAutogradReference) {
  Case c = MakeCase();
  const int64_t tokens = c.targets.ne(-100).sum().item<int64_t>();
  auto ref = F::cross_entropy(torch::mm(c.hidden, c.weight.t()), c.targets);  // mean over targets
  ref.backward();
  auto ref_gh = c.hidden.grad().clone(), ref_gw = c.weight.grad().clone();
  c.hidden.mutable_grad().zero_();
  c.weight.mutable_grad().zero_();
  for (int64_t chunk : {4, 256}) {
    auto loss = LmHeadCrossEntropy(c.hidden, c.weight, c.targets, 1.0 / tokens, -100, chunk);
    EXPECT_NEAR(loss.item<double>(), ref.item<double>(), 1e-5);
    (loss * 3.0).backward();  // a non-unit upstream gradient must scale both gradients
    EXPECT_TRUE(torch::allclose(c.hidden.grad(), 3 * ref_gh, 1e-5, 1e-6)) << "chunk " << chunk;
    EXPECT_TRUE(torch::allclose(c.weight.grad(), 3 * ref_gw, 1e-5, 1e-6)) << "chunk " << chunk;
    c.hidden.mutable_grad().zero_();
    c.weight.mutable_grad().zero_();
  }
}

TEST(LmHeadLossTest, AllTargetsIgnoredGivesZero) {
  Case c = MakeCase();
  c.targets.fill_(-100);
  auto loss = LmHeadCrossEntropy(c.hidden, c.weight, c.targets, 1.0);
  EXPECT_EQ(loss.item<double>(), 0.0);
  loss.backward();
  EXPECT_EQ(c.hidden.grad().abs().sum().item<double>(), 0.0);
}

}  // namespace
}  // namespace plume::core
