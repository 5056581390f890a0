#include "trainer/adam_optimizer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace plume::trainer {
namespace {

// Runs `steps` updates with Plume's fused optimizer and with torch::optim on identical
// parameters and gradients; weight decay only on the 2-D tensor in both.
void CompareWithTorch(bool decoupled) {
  torch::manual_seed(0);
  auto w = torch::randn({64, 33}), b = torch::randn({33});
  auto w_ref = w.clone().requires_grad_(true), b_ref = b.clone().requires_grad_(true);
  w.requires_grad_(true);
  b.requires_grad_(true);
  AdamOptions options;
  options.decoupled_weight_decay = decoupled;
  options.beta1 = 0.8;
  options.beta2 = 0.95;
  options.eps = 1e-6;
  options.weight_decay = 0.1;
  AdamOptimizer ours({{"w", w}, {"b", b}}, options);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  std::unique_ptr<torch::optim::Optimizer> ref;
  if (decoupled) {
    groups.emplace_back(std::vector<torch::Tensor>{w_ref}, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(1e-2).betas({0.8, 0.95}).eps(1e-6).weight_decay(0.1)));
    groups.emplace_back(std::vector<torch::Tensor>{b_ref}, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(1e-2).betas({0.8, 0.95}).eps(1e-6).weight_decay(0.0)));
    ref = std::make_unique<torch::optim::AdamW>(std::move(groups));
  } else {
    groups.emplace_back(std::vector<torch::Tensor>{w_ref}, std::make_unique<torch::optim::AdamOptions>(torch::optim::AdamOptions(1e-2).betas({0.8, 0.95}).eps(1e-6).weight_decay(0.1)));
    groups.emplace_back(std::vector<torch::Tensor>{b_ref}, std::make_unique<torch::optim::AdamOptions>(torch::optim::AdamOptions(1e-2).betas({0.8, 0.95}).eps(1e-6).weight_decay(0.0)));
    ref = std::make_unique<torch::optim::Adam>(std::move(groups));
  }
  for (int step = 0; step < 20; ++step) {
    auto x = torch::randn({8, 64});
    ours.ZeroGrad();
    ref->zero_grad();
    (torch::mm(x, w) + b).pow(2).mean().backward();
    (torch::mm(x, w_ref) + b_ref).pow(2).mean().backward();
    ours.Step(1e-2);
    ref->step();
  }
  EXPECT_EQ(ours.step(), 20);
  EXPECT_TRUE(torch::allclose(w, w_ref, 1e-5, 1e-6)) << (w - w_ref).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(b, b_ref, 1e-5, 1e-6)) << (b - b_ref).abs().max().item<float>();
}

TEST(AdamOptimizerTest, AdamWMatchesTorch) { CompareWithTorch(true); }
TEST(AdamOptimizerTest, AdamMatchesTorch) { CompareWithTorch(false); }

TEST(AdamOptimizerTest, ClipGradNormScalesToMaxNorm) {
  auto w = torch::zeros({2, 2}, torch::requires_grad());
  AdamOptimizer opt({{"w", w}}, {});
  w.mutable_grad() = torch::full({2, 2}, 3.0);
  EXPECT_NEAR(opt.ClipGradNorm(1.5), 6.0, 1e-6);
  EXPECT_NEAR(w.grad().norm().item<double>(), 1.5, 1e-5);
  EXPECT_NEAR(opt.ClipGradNorm(0), 1.5, 1e-5);  // off: norm reported, gradient untouched
}

TEST(AdamOptimizerTest, StateRoundTripAndValidation) {
  auto w = torch::randn({3, 4}, torch::requires_grad());
  AdamOptimizer opt({{"w", w}}, {});
  w.mutable_grad() = torch::ones({3, 4});
  opt.Step(1e-3);
  auto state = opt.StateTensors();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].first, "exp_avg.w");
  auto w2 = w.detach().clone().requires_grad_(true);
  AdamOptimizer restored({{"w", w2}}, {});
  ASSERT_TRUE(restored.LoadState(state, opt.step()).ok());
  EXPECT_EQ(restored.step(), 1);
  EXPECT_TRUE(torch::equal(restored.StateTensors()[1].second, state[1].second));
  EXPECT_FALSE(restored.LoadState({{"exp_avg.w", torch::zeros({3, 4})}}, 1).ok());
  EXPECT_FALSE(restored.LoadState({{"exp_avg.w", torch::zeros({4})}, {"exp_avg_sq.w", torch::zeros({3, 4})}}, 1).ok());
}

TEST(AdamOptimizerTest, OptionsValidation) {
  AdamOptions options;
  EXPECT_TRUE(options.Validate().ok());
  options.beta1 = 1.0;
  EXPECT_NE(std::string(options.Validate().message()).find("beta1"), std::string::npos);
  options = {};
  options.eps = 0;
  EXPECT_NE(std::string(options.Validate().message()).find("eps"), std::string::npos);
}

}  // namespace
}  // namespace plume::trainer
