#include "core/gpt.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace plume::core {
namespace {

GptConfig TinyConfig() {
  GptConfig config;
  config.n_layer = 2;
  config.n_head = 4;
  config.n_embd = 32;
  config.n_positions = 64;
  config.vocab_size = 97;
  return config;
}

TEST(GptTest, ForwardShapesAndParameterCount) {
  torch::manual_seed(0);
  Gpt model(TinyConfig());
  auto ids = torch::randint(0, 97, {3, 10}, torch::kInt64);
  auto logits = model->forward(ids);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{3, 10, 97}));
  int64_t count = 0;
  for (const auto& p : model->parameters()) count += p.numel();
  EXPECT_EQ(count, TinyConfig().NumParameters());
  GptConfig no_bias = TinyConfig();
  no_bias.bias = false;
  Gpt model2(no_bias);
  count = 0;
  for (const auto& p : model2->parameters()) count += p.numel();
  EXPECT_EQ(count, no_bias.NumParameters());
}

TEST(GptTest, Gpt2Initialisation) {
  torch::manual_seed(0);
  GptConfig config = TinyConfig();
  config.n_embd = 256;
  config.n_head = 4;
  config.n_layer = 8;
  Gpt model(config);
  auto params = model->named_parameters();
  EXPECT_NEAR(params["h.0.attn.c_attn.weight"].std().item<double>(), 0.02, 0.001);
  EXPECT_NEAR(params["wte.weight"].std().item<double>(), 0.02, 0.002);
  const double residual = 0.02 / std::sqrt(2.0 * 8);
  EXPECT_NEAR(params["h.3.attn.c_proj.weight"].std().item<double>(), residual, residual * 0.05);
  EXPECT_NEAR(params["h.3.mlp.c_proj.weight"].std().item<double>(), residual, residual * 0.05);
  EXPECT_TRUE(params["h.1.ln_1.weight"].eq(1).all().item<bool>());
  EXPECT_TRUE(params["h.1.ln_2.bias"].eq(0).all().item<bool>());
  EXPECT_TRUE(params["ln_f.weight"].eq(1).all().item<bool>());
  EXPECT_TRUE(params["h.1.mlp.c_fc.bias"].eq(0).all().item<bool>());
}

TEST(GptTest, LmHeadIsTiedToTokenEmbedding) {
  torch::manual_seed(0);
  Gpt model(TinyConfig());
  auto hidden = torch::randn({2, 32});
  auto expected = torch::matmul(hidden, model->wte->weight.t());
  EXPECT_TRUE(torch::allclose(model->LmHead(hidden), expected));
  EXPECT_EQ(model->named_parameters().find("lm_head.weight"), nullptr);
}

TEST(GptTest, AttentionIsCausal) {
  torch::manual_seed(0);
  Gpt model(TinyConfig());
  model->eval();
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(0, 97, {1, 12}, torch::kInt64);
  auto changed = ids.clone();
  changed[0][7] = (changed[0][7].item<int64_t>() + 1) % 97;
  auto a = model->forward(ids), b = model->forward(changed);
  EXPECT_TRUE(torch::allclose(a.narrow(1, 0, 7), b.narrow(1, 0, 7), 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(a.narrow(1, 7, 1), b.narrow(1, 7, 1), 1e-5, 1e-6));
}

TEST(GptTest, CrossEntropyIgnoresIndex) {
  auto logits = torch::randn({1, 3, 5});
  auto targets = torch::tensor({{1, -100, 4}}, torch::kInt64);
  auto loss = CrossEntropyLoss(logits, targets);
  auto logp = logits.log_softmax(-1);
  const double expected = -(logp[0][0][1].item<double>() + logp[0][2][4].item<double>()) / 2;
  EXPECT_NEAR(loss.item<double>(), expected, 1e-5);
}

// Incremental decoding over several sequences of different lengths sharing steps must give the
// logits of a full forward over each sequence alone.
// inference: the weights ForwardStep multiplies with (PrepareInference); Undefined = the
// parameters through LibTorch. tolerance: on the logits, against forward() in fp32.
void CheckIncrementalMatchesFull(const std::vector<int>& slots, int cache_slots,
                                 torch::ScalarType inference = torch::ScalarType::Undefined,
                                 double tolerance = 1e-4) {
  torch::manual_seed(1);
  GptConfig config = TinyConfig();
  Gpt model(config);
  model->eval();
  model->PrepareInference(inference);
  EXPECT_EQ(model->inference_dtype(), inference);
  torch::NoGradGuard no_grad;
  const std::vector<int> lengths = {20, 9, 14};
  std::vector<torch::Tensor> seqs, full;
  for (int len : lengths) {
    seqs.push_back(torch::randint(0, config.vocab_size, {len}, torch::kInt64));
    full.push_back(model->forward(seqs.back().unsqueeze(0))[0]);  // [len, V]
  }
  auto cache = model->NewKvCache(cache_slots, 32);
  std::vector<int> done(lengths.size(), 0);
  // Step 1: prompts of different sizes as chunks (one with all logits).
  const std::vector<int> first = {6, 1, 5};
  std::vector<int> chunk = first;
  int step = 0;
  while (true) {
    std::vector<StepSegment> segments;
    std::vector<torch::Tensor> tokens;
    std::vector<int> which;
    for (size_t i = 0; i < lengths.size(); ++i) {
      const int n = std::min(chunk[i], lengths[i] - done[i]);
      if (n <= 0) continue;
      segments.push_back({slots[i], done[i], n, /*all_logits=*/step == 0 && i == 0});
      tokens.push_back(seqs[i].narrow(0, done[i], n));
      which.push_back(static_cast<int>(i));
    }
    if (segments.empty()) break;
    auto logits = model->ForwardStep(torch::cat(tokens), segments, cache);
    int64_t row = 0;
    for (size_t s = 0; s < segments.size(); ++s) {
      const int i = which[s];
      const StepSegment& seg = segments[s];
      if (seg.all_logits) {
        const auto want = full[i].narrow(0, seg.past_len, seg.num_tokens);
        const auto got = logits.narrow(0, row, seg.num_tokens);
        EXPECT_TRUE(torch::allclose(got, want, tolerance, tolerance))
            << "sequence " << i << " step " << step << " max diff "
            << (got - want).abs().max().item<float>();
        row += seg.num_tokens;
      } else {
        const int pos = seg.past_len + seg.num_tokens - 1;
        EXPECT_TRUE(torch::allclose(logits[row], full[i][pos], tolerance, tolerance))
            << "sequence " << i << " position " << pos << " step " << step << " max diff "
            << (logits[row] - full[i][pos]).abs().max().item<float>();
        row += 1;
      }
      done[i] += seg.num_tokens;
    }
    EXPECT_EQ(row, logits.size(0));
    // After the first step: mix decode steps (1 token) with a second prompt chunk for seq 2.
    chunk = {1, 1, step == 0 ? 4 : 1};
    ++step;
  }
}

TEST(GptTest, IncrementalMatchesFullWithContiguousSlots) { CheckIncrementalMatchesFull({0, 1, 2}, 3); }

TEST(GptTest, IncrementalMatchesFullWithSparseSlots) { CheckIncrementalMatchesFull({0, 7, 15}, 16); }

// Packed fp32 inference weights (core/decode_kernels where the CPU has AVX-512): the same
// products up to summation order.
TEST(GptTest, IncrementalWithPackedF32WeightsMatchesFull) {
  CheckIncrementalMatchesFull({0, 7, 15}, 16, torch::kFloat32);
}

// bf16 inference weights: each weight rounded to 8 significant bits, activations and sums in
// fp32. The documented tolerance on the logits is 2e-2 absolute (GPT-2-scale weights).
TEST(GptTest, IncrementalWithBf16WeightsStaysWithinTolerance) {
  CheckIncrementalMatchesFull({0, 7, 15}, 16, torch::kBFloat16, 2e-2);
}

// The LibTorch fallback of CPUs without AVX-512 (kernels disabled) with prepared weights: the
// bf16 copy goes through oneDNN for every row count.
TEST(GptTest, IncrementalWithoutKernelsMatchesFull) {
  kernels::SetEnabled(false);
  CheckIncrementalMatchesFull({0, 1, 2}, 3, torch::kFloat32);
  CheckIncrementalMatchesFull({0, 1, 2}, 3, torch::kBFloat16, 2e-2);
  kernels::SetEnabled(true);
}

TEST(GptTest, IncrementalRejectsOverflowingSegments) {
  Gpt model(TinyConfig());
  torch::NoGradGuard no_grad;
  auto cache = model->NewKvCache(1, 8);
  EXPECT_THROW(model->ForwardStep(torch::zeros({4}, torch::kInt64), {{0, 6, 4, false}}, cache),
               c10::Error);
  EXPECT_THROW(model->ForwardStep(torch::zeros({3}, torch::kInt64), {{0, 0, 4, false}}, cache),
               c10::Error);
}

}  // namespace
}  // namespace plume::core
