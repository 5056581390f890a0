// The GPT-2 architecture as a LibTorch module: token + position embeddings, pre-LayerNorm blocks
// with fused-QKV causal self-attention and a 4x tanh-GELU MLP, final LayerNorm, LM head tied to
// the token embedding. Parameter names mirror Hugging Face's GPT-2 without the "transformer."
// prefix (h.0.attn.c_attn.weight, ...); Linear weights are torch's [out, in].
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "core/decode_kernels.h"
#include "core/gpt_config.h"

namespace plume::core {

// Attention memory of one layer, owned by the caller (the inference engine's KV cache).
struct LayerKv {
  torch::Tensor k;  // [S, H, Tmax, D]: S cache slots, keys of each slot's sequence by position
  torch::Tensor v;  // [S, H, Tmax, D]
};

// One sequence's share of an incremental step: `num_tokens` new tokens for cache slot `slot`,
// the first of which sits at position `past_len` (the number of tokens already cached).
struct StepSegment {
  int slot = 0;
  int past_len = 0;
  int num_tokens = 0;
  bool all_logits = false;  // logits for every new token (prompt scoring), not only the last
};

// LayerNorm with an optional bias (torch's module has either both affine parameters or none).
class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(int64_t dim, double eps, bool bias);
  torch::Tensor forward(const torch::Tensor& x);  // [..., C] -> [..., C]

  torch::Tensor weight;  // [C]
  torch::Tensor bias;    // [C], undefined when disabled
 private:
  int64_t dim_;
  double eps_;
};
TORCH_MODULE(LayerNorm);

class StepPlan;  // per-step index tensors and masks shared by all layers (gpt.cc)

// A Linear weight as the incremental forward multiplies with it (GptImpl::PrepareInference).
struct InferenceWeight {
  kernels::PackedWeight packed;  // few rows per step (decoding): decode_kernels' layout
  torch::Tensor bf16;            // [N, K] bf16 for many rows (prefill) via oneDNN; bf16 only
};

class CausalSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit CausalSelfAttentionImpl(const GptConfig& config);
  torch::Tensor forward(const torch::Tensor& x);  // [B, T, C] -> [B, T, C]
  // x: [N, C] new tokens of all segments, concatenated (after ln_1); writes their K/V into
  // `kv`. Returns residual + attention output, [N, C].
  torch::Tensor ForwardStep(const torch::Tensor& x, const StepPlan& plan, LayerKv& kv,
                            const torch::Tensor& residual);

  torch::nn::Linear c_attn{nullptr};                   // C -> 3C (q, k, v)
  torch::nn::Linear c_proj{nullptr};                   // C -> C
  InferenceWeight c_attn_inference, c_proj_inference;  // GptImpl::PrepareInference
 private:
  int64_t n_head_, n_embd_;
  double dropout_;
};
TORCH_MODULE(CausalSelfAttention);

class MlpImpl : public torch::nn::Module {
 public:
  explicit MlpImpl(const GptConfig& config);
  torch::Tensor forward(const torch::Tensor& x);  // [..., C] -> [..., C]
  // residual + forward(x) for the incremental forward: [N, C].
  torch::Tensor ForwardStep(const torch::Tensor& x, const torch::Tensor& residual);

  torch::nn::Linear c_fc{nullptr};                   // C -> 4C
  torch::nn::Linear c_proj{nullptr};                 // 4C -> C
  InferenceWeight c_fc_inference, c_proj_inference;  // GptImpl::PrepareInference
};
TORCH_MODULE(Mlp);

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const GptConfig& config);
  torch::Tensor forward(const torch::Tensor& x);  // [B, T, C]
  torch::Tensor ForwardStep(const torch::Tensor& x, const StepPlan& plan, LayerKv& kv);  // [N, C]

  LayerNorm ln_1{nullptr};
  CausalSelfAttention attn{nullptr};
  LayerNorm ln_2{nullptr};
  Mlp mlp{nullptr};

 private:
  double dropout_;
};
TORCH_MODULE(Block);

class GptImpl : public torch::nn::Module {
 public:
  // Builds the modules and applies GPT-2 initialisation (std 0.02; residual projections scaled
  // by 1/sqrt(2 * n_layer)) unless `initialize` is false (weights about to be loaded).
  // The config must be valid.
  explicit GptImpl(const GptConfig& config, bool initialize = true);

  // ids: [B, T] int64 with T <= n_positions -> logits [B, T, V].
  torch::Tensor forward(const torch::Tensor& ids);
  // Final hidden states before the LM head: [B, T] -> [B, T, C] (after ln_f).
  torch::Tensor Hidden(const torch::Tensor& ids);
  // Tied LM head: [..., C] -> [..., V].
  torch::Tensor LmHead(const torch::Tensor& hidden);

  // Incremental forward for the inference engine. tokens: [N] int64, the new tokens of every
  // segment concatenated in segment order. Appends their K/V to each layer's `kv` (one entry per
  // layer) and returns logits [R, V]: per segment, the last token's row, or all of its rows when
  // all_logits is set. Segments must use distinct slots and fit in the cache (Tmax).
  // Inference only (no autograd). Small steps (decoding) run on core/decode_kernels where the
  // CPU has AVX-512, the rest on LibTorch ops.
  torch::Tensor ForwardStep(const torch::Tensor& tokens, const std::vector<StepSegment>& segments,
                            std::vector<LayerKv>& kv);

  // Allocates an empty KV cache: one LayerKv per layer of [slots, H, max_len, D] zeros.
  std::vector<LayerKv> NewKvCache(int slots, int max_len,
                                  torch::ScalarType dtype = torch::kFloat32) const;

  // Copies the weights ForwardStep multiplies with (every Linear and the LM head) into the
  // packed layout of core/decode_kernels, in `dtype`: kFloat32 (same results as the
  // parameters, up to summation order) or kBFloat16 (half the bytes read per decoded token;
  // activations and sums stay fp32 for steps of up to 4 rows, larger ones run bf16 x bf16 in
  // oneDNN; logits stay within 2e-2, see gpt_test; also a
  // plain bf16 copy for oneDNN's large-batch matmuls). Costs that much memory besides the
  // parameters; call again after the parameters change. Until called (or with
  // kUndefined, which frees the copies) ForwardStep multiplies with the parameters through
  // LibTorch. forward() and training always use the parameters.
  void PrepareInference(torch::ScalarType dtype);
  torch::ScalarType inference_dtype() const { return inference_dtype_; }

  const GptConfig& config() const { return config_; }

  torch::nn::Embedding wte{nullptr};  // [V, C] token embedding, also the LM head
  torch::nn::Embedding wpe{nullptr};  // [n_positions, C]
  torch::nn::ModuleList h{nullptr};   // n_layer Blocks
  LayerNorm ln_f{nullptr};

 private:
  GptConfig config_;
  double dropout_;
  torch::ScalarType inference_dtype_ = torch::ScalarType::Undefined;
  InferenceWeight lm_head_inference_;  // wte as the LM head
};
TORCH_MODULE(Gpt);

// Mean cross-entropy over targets != ignore_index. logits [B, T, V], targets [B, T] int64.
torch::Tensor CrossEntropyLoss(const torch::Tensor& logits, const torch::Tensor& targets,
                               int64_t ignore_index = -100);

}  // namespace plume::core
