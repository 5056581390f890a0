#include "core/decode_kernels.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

namespace plume::core::kernels {
namespace {

#define SKIP_WITHOUT_KERNELS() \
  if (!Available()) GTEST_SKIP() << "this CPU has no AVX-512: the LibTorch path is used instead"

// The product the kernel must compute, in double precision from the same operands.
torch::Tensor Reference(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias,
                        Activation activation, const torch::Tensor& residual) {
  auto y = torch::linear(x.to(torch::kFloat64), w.to(torch::kFloat64),
                         bias.defined() ? bias.to(torch::kFloat64) : torch::Tensor());
  if (activation == Activation::kGeluTanh) y = torch::gelu(y, "tanh");
  if (residual.defined()) y = y + residual.to(torch::kFloat64);
  return y.to(torch::kFloat32);
}

class SmallMatmulTest
    : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, int64_t, bool>> {};

TEST_P(SmallMatmulTest, MatchesLinearWithEveryEpilogue) {
  SKIP_WITHOUT_KERNELS();
  const auto [m, n, k, bf16] = GetParam();
  torch::manual_seed(m * 1000 + n + k);
  const auto w = torch::randn({n, k}) * 0.05;
  const auto x = torch::randn({m, k});
  const auto bias = torch::randn({n});
  const auto residual = torch::randn({m, n});
  const PackedWeight packed = PackedWeight::Pack(w, bf16 ? torch::kBFloat16 : torch::kFloat32);
  EXPECT_EQ(packed.n, n);
  EXPECT_EQ(packed.k, k);
  EXPECT_EQ(packed.bf16(), bf16);
  // bf16 weights are rounded once; activations and sums stay fp32, so the result must match the
  // product with the rounded weights as closely as an fp32 one matches the original.
  const auto w_used = bf16 ? w.to(torch::kBFloat16).to(torch::kFloat32) : w;
  for (Activation act : {Activation::kNone, Activation::kGeluTanh}) {
    for (bool with_bias : {false, true}) {
      for (bool with_residual : {false, true}) {
        const torch::Tensor b = with_bias ? bias : torch::Tensor();
        const torch::Tensor r = with_residual ? residual : torch::Tensor();
        const auto got = SmallMatmul(x, packed, b, act, r);
        ASSERT_EQ(got.sizes(), (std::vector<int64_t>{m, n}));
        EXPECT_TRUE(torch::allclose(got, Reference(x, w_used, b, act, r), 1e-4, 1e-4))
            << "m=" << m << " n=" << n << " k=" << k << " bf16=" << bf16
            << " gelu=" << (act == Activation::kGeluTanh) << " bias=" << with_bias
            << " residual=" << with_residual << " max diff "
            << (got - Reference(x, w_used, b, act, r)).abs().max().item<float>();
      }
    }
  }
}

// N not a multiple of the 4-row blocks, K of one and several groups, M on both sides of the
// streaming (M = 1) and tiled (M > 1) paths and the tile size.
INSTANTIATE_TEST_SUITE_P(Shapes, SmallMatmulTest,
                         ::testing::Values(std::make_tuple(1, 97, 32, false),
                                           std::make_tuple(1, 97, 32, true),
                                           std::make_tuple(1, 768, 256, false),
                                           std::make_tuple(1, 130, 768, true),
                                           std::make_tuple(2, 5, 64, false),
                                           std::make_tuple(3, 1, 16, false),
                                           std::make_tuple(4, 33, 64, true),
                                           std::make_tuple(5, 66, 96, false),
                                           std::make_tuple(17, 129, 128, false),
                                           std::make_tuple(64, 40, 48, false),
                                           // x larger than L1: K in chunks, blocks in batches
                                           std::make_tuple(17, 129, 3072, false),
                                           std::make_tuple(64, 130, 1024, false),
                                           std::make_tuple(4, 33, 4096, true)));

TEST(SmallMatmulTest, RowsAreBitIdenticalAloneOrBatched) {
  // What lets a sequence decode the same tokens alone or in any batch. With K = 2048 the x rows
  // outgrow L1; 150 weight rows leave a partial block; 5 and 3 rows a partial x tile.
  SKIP_WITHOUT_KERNELS();
  torch::manual_seed(3);
  for (int64_t k : {256, 2048}) {
    const auto w = torch::randn({150, k}) * 0.05;
    const auto x = torch::randn({20, k});
    const auto bias = torch::randn({150});
    for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
      const PackedWeight packed = PackedWeight::Pack(w, dtype);
      for (int64_t rows : {2, 3, 4, 5, 20}) {
        const auto batched = SmallMatmul(x.narrow(0, 0, rows).contiguous(), packed, bias,
                                         Activation::kGeluTanh);
        for (int64_t i = 0; i < rows; ++i) {
          const auto alone = SmallMatmul(x.narrow(0, i, 1).contiguous(), packed, bias,
                                         Activation::kGeluTanh);
          EXPECT_TRUE(torch::equal(alone[0], batched[i]))
              << "row " << i << " of " << rows << ", K " << k << ", dtype " << dtype;
        }
      }
    }
  }
}

TEST(SmallMatmulTest, SuitsOnlySmallBatches) {
  SKIP_WITHOUT_KERNELS();
  const PackedWeight f32 = PackedWeight::Pack(torch::randn({8, 32}), torch::kFloat32);
  const PackedWeight bf16 = PackedWeight::Pack(torch::randn({8, 32}), torch::kBFloat16);
  EXPECT_TRUE(SmallMatmulSuits(1, f32));
  EXPECT_TRUE(SmallMatmulSuits(64, f32));
  EXPECT_FALSE(SmallMatmulSuits(65, f32));
  EXPECT_TRUE(SmallMatmulSuits(4, bf16));
  EXPECT_FALSE(SmallMatmulSuits(5, bf16));
  EXPECT_FALSE(SmallMatmulSuits(0, f32));
  EXPECT_FALSE(SmallMatmulSuits(1, PackedWeight()));
  SetEnabled(false);
  EXPECT_FALSE(Available());
  EXPECT_FALSE(SmallMatmulSuits(1, f32));
  SetEnabled(true);
  EXPECT_TRUE(Available());
}

TEST(SmallMatmulTest, RejectsBadOperands) {
  SKIP_WITHOUT_KERNELS();
  EXPECT_THROW(PackedWeight::Pack(torch::randn({4, 20}), torch::kFloat32), c10::Error);  // K % 16
  EXPECT_THROW(PackedWeight::Pack(torch::randn({4, 48}), torch::kBFloat16), c10::Error);  // K % 32
  EXPECT_THROW(PackedWeight::Pack(torch::randn({4, 32}), torch::kFloat16), c10::Error);
  EXPECT_THROW(PackedWeight::Pack(torch::randn({32}), torch::kFloat32), c10::Error);
  const PackedWeight packed = PackedWeight::Pack(torch::randn({8, 32}), torch::kFloat32);
  EXPECT_THROW(SmallMatmul(torch::randn({2, 16}), packed, {}), c10::Error);  // K mismatch
  EXPECT_THROW(SmallMatmul(torch::randn({2, 32}).to(torch::kFloat64), packed, {}), c10::Error);
  EXPECT_THROW(SmallMatmul(torch::randn({2, 32}), packed, torch::randn({7})), c10::Error);
  EXPECT_THROW(SmallMatmul(torch::randn({2, 32}), packed, {}, Activation::kNone,
                           torch::randn({2, 9})),
               c10::Error);
  EXPECT_THROW(SmallMatmul(torch::randn({2, 32}), PackedWeight(), {}), c10::Error);
}

// Attention of one new token over a slot's positions [0, pos], computed plainly.
torch::Tensor ReferenceAttention(const torch::Tensor& q, const torch::Tensor& keys,
                                 const torch::Tensor& values, double scale) {
  // q [H, D], keys/values [H, P, D] -> [H * D]
  auto scores = torch::matmul(keys.to(torch::kFloat64), q.to(torch::kFloat64).unsqueeze(-1))
                    .squeeze(-1) * scale;  // [H, P]
  auto out = torch::matmul(scores.softmax(-1).unsqueeze(1), values.to(torch::kFloat64));
  return out.squeeze(1).reshape({-1}).to(torch::kFloat32);
}

TEST(DecodeAttentionTest, StoresTheNewTokenAndAttendsOverItsSlotOnly) {
  SKIP_WITHOUT_KERNELS();
  torch::manual_seed(5);
  const int64_t slots = 6, heads = 3, max_len = 40, d = 16, c = heads * d;
  auto k_cache = torch::randn({slots, heads, max_len, d});
  auto v_cache = torch::randn({slots, heads, max_len, d});
  const auto k_before = k_cache.clone(), v_before = v_cache.clone();
  // Three decoding rows out of five (the others belong to a prompt chunk), sparse slots, lengths
  // from a first token (position 0) to a full slot (position max_len - 1).
  const auto qkv = torch::randn({5, 3 * c});
  const std::vector<int64_t> rows = {4, 0, 2}, slot = {5, 1, 2}, pos = {0, 17, max_len - 1};
  auto out = torch::full({5, c}, std::numeric_limits<float>::quiet_NaN());
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  DecodeAttention(qkv, torch::tensor(rows), torch::tensor(slot), torch::tensor(pos), k_cache,
                  v_cache, scale, out);
  auto expected_k = k_before.clone(), expected_v = v_before.clone();
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto row = qkv[rows[i]];
    expected_k[slot[i]].select(1, pos[i]).copy_(row.narrow(0, c, c).view({heads, d}));
    expected_v[slot[i]].select(1, pos[i]).copy_(row.narrow(0, 2 * c, c).view({heads, d}));
  }
  EXPECT_TRUE(torch::equal(k_cache, expected_k)) << "only the new tokens' keys are written";
  EXPECT_TRUE(torch::equal(v_cache, expected_v));
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto q = qkv[rows[i]].narrow(0, 0, c).view({heads, d});
    const auto keys = expected_k[slot[i]].narrow(1, 0, pos[i] + 1);
    const auto values = expected_v[slot[i]].narrow(1, 0, pos[i] + 1);
    const auto want = ReferenceAttention(q, keys, values, scale);
    EXPECT_TRUE(torch::allclose(out[rows[i]], want, 1e-5, 1e-5))
        << "row " << rows[i] << " max diff " << (out[rows[i]] - want).abs().max().item<float>();
  }
  EXPECT_TRUE(torch::isnan(out[1]).all().item<bool>()) << "rows not decoding are left alone";
  EXPECT_TRUE(torch::isnan(out[3]).all().item<bool>());
}

TEST(DecodeAttentionTest, RejectsOutOfRangeIndices) {
  SKIP_WITHOUT_KERNELS();
  auto k_cache = torch::zeros({2, 2, 8, 16}), v_cache = torch::zeros({2, 2, 8, 16});
  const auto qkv = torch::randn({1, 96});
  auto out = torch::empty({1, 32});
  auto call = [&](int64_t row, int64_t slot, int64_t pos) {
    DecodeAttention(qkv, torch::tensor({row}), torch::tensor({slot}), torch::tensor({pos}),
                    k_cache, v_cache, 0.25, out);
  };
  EXPECT_NO_THROW(call(0, 1, 7));
  EXPECT_THROW(call(1, 0, 0), c10::Error);
  EXPECT_THROW(call(0, 2, 0), c10::Error);
  EXPECT_THROW(call(0, 0, 8), c10::Error);
  EXPECT_THROW(call(0, 0, -1), c10::Error);
}

}  // namespace
}  // namespace plume::core::kernels
