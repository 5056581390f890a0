// Hand-written AVX-512 kernels for the incremental forward's small-batch steps, where LibTorch's
// generic paths are far from the machine's limits: decoding reads every weight once per step for
// only a few rows, so it is bound by memory bandwidth and per-call overheads.
//   - SmallMatmul: y = x·Wᵀ (+ bias) (GELU) (+ residual) for few rows of x, with W packed
//     once (PackedWeight) into blocks of 4 rows interleaved along K. For one row of x each
//     thread reads 4 distant blocks side by side: the memory system here delivers ~30 GB/s to
//     a few long sequential streams per core but only ~20 GB/s to many short ones (row-major
//     W). More rows of x reuse each block from cache in 4 x 4 register tiles. bf16 weights are
//     widened to fp32 by shifts (exact) and multiplied with fp32 FMAs, which keeps x in fp32.
//     Each output element is the same chain of FMAs whatever M is, so a sequence gets
//     bit-identical results alone or batched.
//   - DecodeAttention: one new token per sequence: stores its K/V into the cache and attends
//     over the sequence's cached positions (no mask, no padding to the longest sequence).
// The kernels run on LibTorch's intra-op threads. They need AVX-512F at run time; elsewhere
// Available() is false and callers use LibTorch ops.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace plume::core::kernels {

// Whether the kernels can run on this CPU and are enabled.
bool Available();
// Disables the kernels (callers fall back to LibTorch ops); for tests and comparisons.
void SetEnabled(bool enabled);

enum class Activation { kNone, kGeluTanh };

// A Linear weight [N, K] rearranged for SmallMatmul: block b holds rows [4b, 4b + 4) (zero
// rows pad N), and for each group of L values of K (L = 16 for fp32, 32 for bf16) the 4 rows'
// values follow each other: data [ceil(N/4), K/L, 4, L].
struct PackedWeight {
  // weight [N, K] float32, K a multiple of L; dtype kFloat32 or kBFloat16 (rounded to nearest).
  static PackedWeight Pack(const torch::Tensor& weight, torch::ScalarType dtype);
  bool defined() const { return data.defined(); }
  bool bf16() const { return data.scalar_type() == torch::kBFloat16; }

  torch::Tensor data;
  int64_t n = 0, k = 0;
};

// Whether SmallMatmul should take `m` rows of x with this weight: the kernels are available
// and M is small enough that streaming the weights beats a blocked GEMM (up to 64 rows for
// fp32, 4 for bf16, whose larger batches go faster through oneDNN's AMX kernels).
bool SmallMatmulSuits(int64_t m, const PackedWeight& weight);

// y = act(x · Wᵀ + bias) + residual. x [M, K] f32 contiguous; bias [N] f32 or undefined;
// residual [M, N] f32 contiguous or undefined. Returns [M, N] f32.
torch::Tensor SmallMatmul(const torch::Tensor& x, const PackedWeight& weight,
                          const torch::Tensor& bias, Activation activation = Activation::kNone,
                          const torch::Tensor& residual = {});

// Single-query attention for decoding sequences. qkv [N, 3C] f32 contiguous (q | k | v per row,
// heads of D = C / H each); for each decoding sequence i: row rows[i] of qkv is its new token at
// position positions[i] in cache slot slots[i]. Writes that token's k/v into k_cache/v_cache
// [S, H, T, D] f32 contiguous, then writes softmax(q·Kᵀ·scale)·V over positions
// [0, positions[i]] into row rows[i] of out [N, C]. rows/slots/positions: [B] int64.
void DecodeAttention(const torch::Tensor& qkv, const torch::Tensor& rows,
                     const torch::Tensor& slots, const torch::Tensor& positions,
                     torch::Tensor& k_cache, torch::Tensor& v_cache, double scale,
                     torch::Tensor& out);

}  // namespace plume::core::kernels
