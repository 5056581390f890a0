#include "core/decode_kernels.h"

#include <immintrin.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/parallel.h"

// GCC 12 reports its own _mm512_undefined_ps() placeholders inside the intrinsics headers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// Functions compiled for AVX-512 carry this attribute; they are only called after Available()
// checked the CPU, and they use raw pointers only (no templates that could leak AVX-512 code
// into functions shared with the rest of the program).
#define PLUME_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))

namespace plume::core::kernels {
namespace {

// Above these row counts a blocked GEMM (OpenBLAS for fp32, oneDNN/AMX for bf16) is faster than
// streaming the weights once per row (measured on the AVX-512/AMX Xeon of PERFORMANCE.md).
constexpr int64_t kMaxRowsF32 = 64;
constexpr int64_t kMaxRowsBf16 = 4;
constexpr int64_t kMaxHeadDim = 256;

std::atomic<bool> g_enabled{true};

bool CpuSupportsKernels() {
  static const bool supported =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  return supported;
}

// Lane i of the result = sum of the lanes of a[i].
PLUME_AVX512 inline __m512 Reduce16(const __m512* a) {
  __m512 b[8];
  for (int i = 0; i < 8; ++i) {
    const __m512 lo = _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 hi = _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2));
    b[i] = _mm512_add_ps(lo, hi);
  }
  __m512 c[4];
  for (int i = 0; i < 4; ++i) {
    const __m512 lo = _mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 hi = _mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1));
    c[i] = _mm512_add_ps(lo, hi);  // 128-bit chunk j: partial sums of row 4i + j
  }
  const __m512 d0 = _mm512_add_ps(_mm512_unpacklo_ps(c[0], c[1]), _mm512_unpackhi_ps(c[0], c[1]));
  const __m512 d1 = _mm512_add_ps(_mm512_unpacklo_ps(c[2], c[3]), _mm512_unpackhi_ps(c[2], c[3]));
  const __m512d e0 = _mm512_castps_pd(d0), e1 = _mm512_castps_pd(d1);
  const __m512 e = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(e0, e1)),
                                 _mm512_castpd_ps(_mm512_unpackhi_pd(e0, e1)));
  // e holds the sums in the order 0 4 8 12 1 5 9 13 ...; put them in row order.
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(order, e);
}

PLUME_AVX512 inline __mmask16 FirstLanes(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
}

// exp(x): x = n·ln2 + r with |r| <= ln2/2, e^r by its degree-6 Taylor polynomial (relative error
// < 2e-7), times 2^n by scalef (which also handles under- and overflow).
PLUME_AVX512 inline __m512 Exp(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f)), _mm512_set1_ps(-104.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// GELU, tanh form: 0.5·x·(1 + tanh(u)) with u = sqrt(2/pi)·(x + 0.044715·x³), written as
// x / (1 + e^(-2u)).
PLUME_AVX512 inline __m512 GeluTanh(__m512 x) {
  const __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
  const __m512 u = _mm512_mul_ps(_mm512_set1_ps(0.7978845608028654f),
                                 _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), x3, x));
  const __m512 e = Exp(_mm512_mul_ps(_mm512_set1_ps(-2.0f), u));
  return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

constexpr int kBlockRows = 4;  // rows of a packed block
constexpr int kStreams = 4;    // blocks one thread reads side by side for a single row of x

struct MatmulArgs {
  const float* x;  // [M, K]; for bf16 weights: each 32-group as 16 even then 16 odd
  int64_t m, k, n;
  const void* weight;     // packed [ceil(N/4), K/L, 4, L]
  const float* bias;      // [N] or null
  const float* residual;  // [M, N] or null
  Activation activation;
  float* y;  // [M, N]
};

PLUME_AVX512 inline void Epilogue(const MatmulArgs& a, int64_t row, int64_t n0, __m512 v,
                                  __mmask16 mask) {
  if (a.bias != nullptr) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, a.bias + n0));
  if (a.activation == Activation::kGeluTanh) v = GeluTanh(v);
  if (a.residual != nullptr) {
    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, a.residual + row * a.n + n0));
  }
  _mm512_mask_storeu_ps(a.y + row * a.n + n0, mask, v);
}

// Lanes [4i, 4i + 4) of the 16 sums are output rows [4·block, 4·block + 4) of x row `row`.
PLUME_AVX512 inline void StoreBlock(const MatmulArgs& a, int64_t row, int64_t block, int i,
                                    __m512 sums) {
  const int64_t n0 = block * kBlockRows;
  const __m512 part = _mm512_maskz_compress_ps(static_cast<__mmask16>(0xFu << (4 * i)), sums);
  Epilogue(a, row, n0, part, FirstLanes(std::min<int64_t>(kBlockRows, a.n - n0)));
}

// acc[slot] += weight values · x for one L-group of K. fp32: L = 16, one vector per row;
// bf16: L = 32 as one 512-bit load, widened exactly to fp32 by shifts (element 2j sits in the
// low half of 32-bit lane j, element 2j+1 in the high half), x given as 16 even then 16 odd.
template <bool kBf16>
PLUME_AVX512 inline void MultiplyGroup(const void* w, const float* x, __m512& acc) {
  if constexpr (kBf16) {
    const __m512i v = _mm512_loadu_si512(w);
    const __m512i high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
    acc = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v, 16)), _mm512_loadu_ps(x), acc);
    acc = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v, high)), _mm512_loadu_ps(x + 16),
                          acc);
  } else {
    acc = _mm512_fmadd_ps(_mm512_loadu_ps(static_cast<const float*>(w)), _mm512_loadu_ps(x), acc);
  }
}

// One row of x, blocks [b0, b1): split into kStreams consecutive runs read side by side, 4 rows
// of each block at a time (16 accumulators).
template <bool kBf16>
PLUME_AVX512 void StreamBlocks(const MatmulArgs& a, int64_t b0, int64_t b1) {
  using W = std::conditional_t<kBf16, uint16_t, float>;
  constexpr int64_t L = kBf16 ? 32 : 16;
  const W* w = static_cast<const W*>(a.weight);
  const int64_t block_size = kBlockRows * a.k;  // elements of one block
  const int64_t per = (b1 - b0 + kStreams - 1) / kStreams;
  for (int64_t j = 0; j < per; ++j) {
    int64_t block[kStreams];
    bool valid[kStreams];
    for (int s = 0; s < kStreams; ++s) {
      const int64_t b = b0 + s * per + j;
      valid[s] = b < std::min(b0 + (s + 1) * per, b1);
      block[s] = valid[s] ? b : b0;  // a spare stream recomputes block b0, not stored
    }
    __m512 acc[16];
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
    for (int64_t g = 0; g < a.k / L; ++g) {
      const float* x = a.x + g * L;
#pragma GCC unroll 4
      for (int s = 0; s < kStreams; ++s) {
        const W* group = w + block[s] * block_size + g * kBlockRows * L;
#pragma GCC unroll 4
        for (int r = 0; r < kBlockRows; ++r) MultiplyGroup<kBf16>(group + r * L, x, acc[s * 4 + r]);
      }
    }
    const __m512 sums = Reduce16(acc);
    for (int s = 0; s < kStreams; ++s) {
      if (valid[s]) StoreBlock(a, 0, block[s], s, sums);
    }
  }
}

// Several rows of x, blocks [b0, b1): each block is reused from cache for tiles of 4 x rows
// (16 accumulators: 4 x rows by the block's 4 weight rows).
template <bool kBf16>
PLUME_AVX512 void TileBlocks(const MatmulArgs& a, int64_t b0, int64_t b1) {
  using W = std::conditional_t<kBf16, uint16_t, float>;
  constexpr int64_t L = kBf16 ? 32 : 16;
  const W* w = static_cast<const W*>(a.weight);
  for (int64_t b = b0; b < b1; ++b) {
    const W* blk = w + b * kBlockRows * a.k;
    for (int64_t m0 = 0; m0 < a.m; m0 += 4) {
      const float* xr[4];
      for (int i = 0; i < 4; ++i) xr[i] = a.x + std::min<int64_t>(m0 + i, a.m - 1) * a.k;
      __m512 acc[16];
      for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
      for (int64_t g = 0; g < a.k / L; ++g) {
        const W* group = blk + g * kBlockRows * L;
        if (m0 == 0 && b + 1 < b1) {
          // Fetch the next block into L2 while this one is reused from L1 for every x tile:
          // its DRAM latency then overlaps with compute instead of stalling the next block.
          const char* next = reinterpret_cast<const char*>(group + kBlockRows * a.k);
          for (int line = 0; line < static_cast<int>(kBlockRows * L * sizeof(W)); line += 64) {
            _mm_prefetch(next + line, _MM_HINT_T1);
          }
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {
#pragma GCC unroll 4
          for (int r = 0; r < kBlockRows; ++r) {
            MultiplyGroup<kBf16>(group + r * L, xr[i] + g * L, acc[i * 4 + r]);
          }
        }
      }
      const __m512 sums = Reduce16(acc);
      for (int i = 0; i < 4 && m0 + i < a.m; ++i) StoreBlock(a, m0 + i, b, i, sums);
    }
  }
}

// x [M, K] -> per 32-group: the 16 even-indexed values, then the 16 odd-indexed ones.
PLUME_AVX512 void Deinterleave(const float* x, int64_t count, float* out) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (int64_t i = 0; i < count; i += 32) {
    const __m512 lo = _mm512_loadu_ps(x + i), hi = _mm512_loadu_ps(x + i + 16);
    _mm512_storeu_ps(out + i, _mm512_permutex2var_ps(lo, even, hi));
    _mm512_storeu_ps(out + i + 16, _mm512_permutex2var_ps(lo, odd, hi));
  }
}

// One (sequence, head): store the new k/v at `pos`, attend over positions [0, pos].
PLUME_AVX512 void AttendOne(const float* q, const float* k_new, const float* v_new, float* keys,
                            float* values, int64_t pos, int64_t d, float scale, float* scores,
                            float* out) {
  std::memcpy(keys + pos * d, k_new, d * sizeof(float));
  std::memcpy(values + pos * d, v_new, d * sizeof(float));
  const int64_t length = pos + 1, chunks = (d + 15) / 16;
  __mmask16 masks[16];
  __m512 qv[16];
  for (int64_t c = 0; c < chunks; ++c) {
    masks[c] = FirstLanes(d - 16 * c);
    qv[c] = _mm512_mul_ps(_mm512_maskz_loadu_ps(masks[c], q + 16 * c), _mm512_set1_ps(scale));
  }
  // Scores of 16 positions at a time.
  __m512 best = _mm512_set1_ps(-INFINITY);
  for (int64_t t0 = 0; t0 < length; t0 += 16) {
    const int64_t rows = std::min<int64_t>(16, length - t0);
    __m512 acc[16];
    for (int r = 0; r < 16; ++r) {
      const float* kr = keys + (t0 + std::min<int64_t>(r, rows - 1)) * d;
      __m512 s = _mm512_setzero_ps();
      for (int64_t c = 0; c < chunks; ++c) {
        s = _mm512_fmadd_ps(qv[c], _mm512_maskz_loadu_ps(masks[c], kr + 16 * c), s);
      }
      acc[r] = s;
    }
    const __m512 s = Reduce16(acc);
    _mm512_mask_storeu_ps(scores + t0, FirstLanes(rows), s);
    best = _mm512_mask_max_ps(best, FirstLanes(rows), best, s);
  }
  const __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(best));
  __m512 total = _mm512_setzero_ps();
  for (int64_t t0 = 0; t0 < length; t0 += 16) {
    const __mmask16 mask = FirstLanes(length - t0);
    const __m512 e = Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, scores + t0), max));
    _mm512_mask_storeu_ps(scores + t0, mask, e);
    total = _mm512_mask_add_ps(total, mask, total, e);
  }
  const float inv = 1.0f / _mm512_reduce_add_ps(total);
  // Weighted sum of values; two accumulator sets to halve the FMA dependency chains.
  __m512 o0[16], o1[16];
  for (int64_t c = 0; c < chunks; ++c) o0[c] = o1[c] = _mm512_setzero_ps();
  int64_t t = 0;
  for (; t + 2 <= length; t += 2) {
    const __m512 p0 = _mm512_set1_ps(scores[t]), p1 = _mm512_set1_ps(scores[t + 1]);
    const float* v0 = values + t * d;
    const float* v1 = v0 + d;
    for (int64_t c = 0; c < chunks; ++c) {
      o0[c] = _mm512_fmadd_ps(p0, _mm512_maskz_loadu_ps(masks[c], v0 + 16 * c), o0[c]);
      o1[c] = _mm512_fmadd_ps(p1, _mm512_maskz_loadu_ps(masks[c], v1 + 16 * c), o1[c]);
    }
  }
  if (t < length) {
    const __m512 p0 = _mm512_set1_ps(scores[t]);
    for (int64_t c = 0; c < chunks; ++c) {
      o0[c] = _mm512_fmadd_ps(p0, _mm512_maskz_loadu_ps(masks[c], values + t * d + 16 * c), o0[c]);
    }
  }
  for (int64_t c = 0; c < chunks; ++c) {
    _mm512_mask_storeu_ps(out + 16 * c, masks[c],
                          _mm512_mul_ps(_mm512_add_ps(o0[c], o1[c]), _mm512_set1_ps(inv)));
  }
}

void CheckFloatMatrix(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.dim() == 2 && t.scalar_type() == torch::kFloat32 && t.is_contiguous(), name,
              " must be a contiguous 2-D float32 tensor");
}

}  // namespace

bool Available() { return g_enabled.load(std::memory_order_relaxed) && CpuSupportsKernels(); }

void SetEnabled(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }

PackedWeight PackedWeight::Pack(const torch::Tensor& weight, torch::ScalarType dtype) {
  TORCH_CHECK(weight.dim() == 2 && weight.scalar_type() == torch::kFloat32,
              "PackedWeight::Pack takes a 2-D float32 weight");
  TORCH_CHECK(dtype == torch::kFloat32 || dtype == torch::kBFloat16,
              "packed weights are float32 or bfloat16");
  const int64_t n = weight.size(0), k = weight.size(1);
  const int64_t group = dtype == torch::kBFloat16 ? 32 : 16;
  TORCH_CHECK(k % group == 0, "K=", k, " must be a multiple of ", group);
  const int64_t blocks = (n + kBlockRows - 1) / kBlockRows;
  torch::Tensor padded = torch::zeros({blocks * kBlockRows, k}, weight.options().dtype(dtype));
  padded.narrow(0, 0, n).copy_(weight.detach());
  PackedWeight packed;
  packed.data =
      padded.view({blocks, kBlockRows, k / group, group}).permute({0, 2, 1, 3}).contiguous();
  packed.n = n;
  packed.k = k;
  return packed;
}

bool SmallMatmulSuits(int64_t m, const PackedWeight& weight) {
  return Available() && weight.defined() && m >= 1 &&
         m <= (weight.bf16() ? kMaxRowsBf16 : kMaxRowsF32);
}

torch::Tensor SmallMatmul(const torch::Tensor& x, const PackedWeight& weight,
                          const torch::Tensor& bias, Activation activation,
                          const torch::Tensor& residual) {
  TORCH_CHECK(Available(), "SmallMatmul needs AVX-512");
  TORCH_CHECK(weight.defined(), "SmallMatmul needs a packed weight");
  CheckFloatMatrix(x, "x");
  const bool bf16 = weight.bf16();
  const int64_t m = x.size(0), k = x.size(1), n = weight.n;
  TORCH_CHECK(weight.k == k, "weight is [", n, ", ", weight.k, "], x has K=", k);
  if (bias.defined()) {
    TORCH_CHECK(bias.dim() == 1 && bias.size(0) == n && bias.scalar_type() == torch::kFloat32 &&
                    bias.is_contiguous(),
                "bias must be a contiguous float32 [", n, "]");
  }
  if (residual.defined()) {
    CheckFloatMatrix(residual, "residual");
    TORCH_CHECK(residual.size(0) == m && residual.size(1) == n, "residual must be [", m, ", ", n,
                "]");
  }
  torch::Tensor y = torch::empty({m, n}, x.options());
  torch::Tensor xs = x;
  if (bf16) {
    xs = torch::empty_like(x);
    Deinterleave(x.data_ptr<float>(), m * k, xs.data_ptr<float>());
  }
  const MatmulArgs args{xs.data_ptr<float>(),
                        m,
                        k,
                        n,
                        weight.data.data_ptr(),
                        bias.defined() ? bias.data_ptr<float>() : nullptr,
                        residual.defined() ? residual.data_ptr<float>() : nullptr,
                        activation,
                        y.data_ptr<float>()};
  const int64_t blocks = weight.data.size(0);
  // At least ~64 KB of weights per task: small matrices are not worth splitting.
  const int64_t grain =
      std::max<int64_t>(1, (int64_t{64} << 10) / (kBlockRows * k * (bf16 ? 2 : 4)));
  ParallelFor(0, blocks, grain, [&](int64_t b0, int64_t b1) {
    if (m == 1) {
      bf16 ? StreamBlocks<true>(args, b0, b1) : StreamBlocks<false>(args, b0, b1);
    } else {
      bf16 ? TileBlocks<true>(args, b0, b1) : TileBlocks<false>(args, b0, b1);
    }
  });
  return y;
}

void DecodeAttention(const torch::Tensor& qkv, const torch::Tensor& rows,
                     const torch::Tensor& slots, const torch::Tensor& positions,
                     torch::Tensor& k_cache, torch::Tensor& v_cache, double scale,
                     torch::Tensor& out) {
  TORCH_CHECK(Available(), "DecodeAttention needs AVX-512");
  CheckFloatMatrix(qkv, "qkv");
  CheckFloatMatrix(out, "out");
  TORCH_CHECK(k_cache.dim() == 4 && k_cache.sizes() == v_cache.sizes() &&
                  k_cache.scalar_type() == torch::kFloat32 &&
                  v_cache.scalar_type() == torch::kFloat32 && k_cache.is_contiguous() &&
                  v_cache.is_contiguous(),
              "KV cache must be contiguous float32 [S, H, T, D]");
  const int64_t num_slots = k_cache.size(0), heads = k_cache.size(1), max_len = k_cache.size(2),
                d = k_cache.size(3), c = heads * d;
  TORCH_CHECK(d <= kMaxHeadDim, "head dim ", d, " > ", kMaxHeadDim);
  TORCH_CHECK(qkv.size(1) == 3 * c && out.size(1) == c && out.size(0) == qkv.size(0),
              "qkv must be [N, ", 3 * c, "] and out [N, ", c, "]");
  const int64_t b = rows.numel();
  TORCH_CHECK(slots.numel() == b && positions.numel() == b, "rows/slots/positions differ in size");
  const torch::Tensor r64 = rows.to(torch::kInt64).contiguous();
  const torch::Tensor s64 = slots.to(torch::kInt64).contiguous();
  const torch::Tensor p64 = positions.to(torch::kInt64).contiguous();
  const int64_t* row_p = r64.data_ptr<int64_t>();
  const int64_t* slot_p = s64.data_ptr<int64_t>();
  const int64_t* pos_p = p64.data_ptr<int64_t>();
  int64_t longest = 0;
  for (int64_t i = 0; i < b; ++i) {
    TORCH_CHECK(row_p[i] >= 0 && row_p[i] < qkv.size(0), "row ", row_p[i], " out of range");
    TORCH_CHECK(slot_p[i] >= 0 && slot_p[i] < num_slots, "slot ", slot_p[i], " out of range");
    TORCH_CHECK(pos_p[i] >= 0 && pos_p[i] < max_len, "position ", pos_p[i], " out of range");
    longest = std::max(longest, pos_p[i] + 1);
  }
  const float* qkv_p = qkv.data_ptr<float>();
  float* k_p = k_cache.data_ptr<float>();
  float* v_p = v_cache.data_ptr<float>();
  float* out_p = out.data_ptr<float>();
  const float s = static_cast<float>(scale);
  ParallelFor(0, b * heads, 1, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> scores;
    if (static_cast<int64_t>(scores.size()) < longest + 16) scores.resize(longest + 16);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t i = task / heads, h = task % heads;
      const float* row = qkv_p + row_p[i] * 3 * c;
      const int64_t base = (slot_p[i] * heads + h) * max_len * d;
      AttendOne(row + h * d, row + c + h * d, row + 2 * c + h * d, k_p + base, v_p + base, pos_p[i],
                d, s, scores.data(), out_p + row_p[i] * c + h * d);
    }
  });
}

}  // namespace plume::core::kernels
