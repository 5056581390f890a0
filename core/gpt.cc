#include "core/gpt.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/decode_kernels.h"

namespace plume::core {

namespace F = torch::nn::functional;
using torch::indexing::Slice;

// Index tensors and masks describing one incremental step, built once and shared by all layers.
class StepPlan {
 public:
  struct Prefill {
    int64_t slot, past_len, num_tokens, row;  // row: first row of the segment in x
    torch::Tensor mask;                       // [n, past + n] additive causal mask
  };

  // kernel_attention: decoding segments attend with kernels::DecodeAttention, which needs no
  // masks or batch layout.
  StepPlan(const std::vector<StepSegment>& segments, int64_t cache_len, bool kernel_attention)
      : kernel_attention(kernel_attention) {
    int64_t row = 0;
    std::vector<int64_t> dec_slots, dec_rows, dec_lens, out_rows;
    for (const StepSegment& s : segments) {
      TORCH_CHECK(s.num_tokens >= 1, "StepSegment.num_tokens must be >= 1");
      TORCH_CHECK(s.past_len >= 0 && s.past_len + s.num_tokens <= cache_len,
                  "StepSegment exceeds the KV cache: past_len=", s.past_len,
                  " num_tokens=", s.num_tokens, " cache_len=", cache_len);
      if (s.num_tokens == 1) {
        dec_slots.push_back(s.slot);
        dec_rows.push_back(row);
        dec_lens.push_back(s.past_len + 1);
      } else {
        const int64_t n = s.num_tokens, total = s.past_len + n;
        // Row i (position past_len + i) sees columns 0..past_len + i.
        auto cols = torch::arange(total, torch::kInt64).unsqueeze(0);            // [1, total]
        auto limit = torch::arange(n, torch::kInt64).unsqueeze(1) + s.past_len;  // [n, 1]
        auto mask = torch::zeros({n, total}, torch::kFloat32)
                        .masked_fill_(cols > limit, -std::numeric_limits<float>::infinity());
        prefills.push_back({s.slot, s.past_len, n, row, mask});
      }
      if (s.all_logits) {
        for (int64_t i = 0; i < s.num_tokens; ++i) out_rows.push_back(row + i);
      } else {
        out_rows.push_back(row + s.num_tokens - 1);
      }
      row += s.num_tokens;
    }
    num_rows = row;
    num_decode = static_cast<int64_t>(dec_slots.size());
    only_decode = prefills.empty();
    output_rows = torch::tensor(out_rows, torch::kInt64);
    outputs_are_all_rows = static_cast<int64_t>(out_rows.size()) == num_rows;
    if (num_decode == 0) return;

    decode_slots = torch::tensor(dec_slots, torch::kInt64);
    decode_rows = torch::tensor(dec_rows, torch::kInt64);
    decode_positions = torch::tensor(dec_lens, torch::kInt64) - 1;
    decode_len = *std::max_element(dec_lens.begin(), dec_lens.end());
    if (kernel_attention) return;
    const auto [lo, hi] = std::minmax_element(dec_slots.begin(), dec_slots.end());
    slot_lo = *lo;
    slot_count = *hi - *lo + 1;
    // Attend over a contiguous slot range (a view of the cache, no copy) unless the decoding
    // slots are sparse in it; then gather just their K/V.
    use_slot_range = slot_count <= 2 * num_decode;
    const int64_t batch = use_slot_range ? slot_count : num_decode;
    std::vector<int64_t> lens(batch, 1);  // slots not decoding keep one visible column (no NaN)
    for (int64_t i = 0; i < num_decode; ++i) {
      lens[use_slot_range ? dec_slots[i] - slot_lo : i] = dec_lens[i];
    }
    auto cols = torch::arange(decode_len, torch::kInt64).view({1, 1, 1, decode_len});
    auto lim = torch::tensor(lens, torch::kInt64).view({batch, 1, 1, 1});
    decode_mask = torch::zeros({batch, 1, 1, decode_len}, torch::kFloat32)
                      .masked_fill_(cols >= lim, -std::numeric_limits<float>::infinity());
    decode_batch_index = use_slot_range ? decode_slots - slot_lo : torch::arange(num_decode);
  }

  bool kernel_attention = false;
  int64_t num_rows = 0;
  std::vector<Prefill> prefills;
  bool only_decode = true;
  torch::Tensor output_rows;  // [R] rows of x whose logits are returned
  bool outputs_are_all_rows = false;

  int64_t num_decode = 0;
  torch::Tensor decode_slots;      // [Bd] cache slot of each decoding segment
  torch::Tensor decode_rows;       // [Bd] its row in x
  torch::Tensor decode_positions;  // [Bd] position of its new token
  int64_t decode_len = 0;          // longest decoding sequence including the new token
  bool use_slot_range = false;
  int64_t slot_lo = 0, slot_count = 0;
  torch::Tensor decode_mask;         // [batch, 1, 1, decode_len] additive
  torch::Tensor decode_batch_index;  // [Bd] row of each decoding segment in the attention batch
};

namespace {

// The incremental forward's matrix products: act(x·Wᵀ + b) + residual, x [M, K] -> [M, N].
// Few rows run on the streaming kernels when the weight was packed (PrepareInference), more on
// LibTorch: oneDNN with the bf16 copy, else OpenBLAS with the fp32 parameter.
torch::Tensor StepLinear(const torch::Tensor& x, const torch::Tensor& weight,
                         const torch::Tensor& bias, const InferenceWeight& inference,
                         kernels::Activation activation = kernels::Activation::kNone,
                         const torch::Tensor& residual = {}) {
  if (kernels::SmallMatmulSuits(x.size(0), inference.packed)) {
    return kernels::SmallMatmul(x.contiguous(), inference.packed, bias, activation,
                                residual.defined() ? residual.contiguous() : residual);
  }
  torch::Tensor y;
  if (inference.bf16.defined()) {
    y = torch::linear(x.to(torch::kBFloat16), inference.bf16).to(torch::kFloat32);
    if (bias.defined()) y.add_(bias);
  } else {
    y = torch::linear(x, weight, bias);
  }
  if (activation == kernels::Activation::kGeluTanh) y = torch::gelu(y, "tanh");
  if (residual.defined()) y.add_(residual);
  return y;
}

}  // namespace

LayerNormImpl::LayerNormImpl(int64_t dim, double eps, bool use_bias) : dim_(dim), eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
  if (use_bias) bias = register_parameter("bias", torch::zeros({dim}));
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) {
  return torch::layer_norm(x, {dim_}, weight, bias, eps_);
}

CausalSelfAttentionImpl::CausalSelfAttentionImpl(const GptConfig& config)
    : n_head_(config.n_head), n_embd_(config.n_embd), dropout_(config.dropout) {
  const int64_t c = config.n_embd;
  c_attn = register_module("c_attn",
                           torch::nn::Linear(torch::nn::LinearOptions(c, 3 * c).bias(config.bias)));
  c_proj = register_module("c_proj",
                           torch::nn::Linear(torch::nn::LinearOptions(c, c).bias(config.bias)));
}

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1), C = n_embd_, H = n_head_, D = C / H;
  // split (one concatenation in backward), not select/narrow (a zero-filled [B, T, 3C] gradient
  // per part).
  auto parts = c_attn(x).split(C, 2);  // 3 x [B, T, C]
  auto q = parts[0].view({B, T, H, D}).transpose(1, 2) * (1.0 / std::sqrt(static_cast<double>(D)));
  auto k = parts[1].view({B, T, H, D}).transpose(1, 2);  // [B, H, T, D]
  auto v = parts[2].view({B, T, H, D}).transpose(1, 2);
  // Additive causal mask, added in place: unlike masked_fill its backward is free, and the
  // softmax already gives masked positions zero gradient.
  auto future = torch::full({T, T}, -std::numeric_limits<float>::infinity(), x.options()).triu_(1);
  auto att = torch::matmul(q, k.transpose(-2, -1)).add_(future).softmax(-1);  // [B, H, T, T]
  if (dropout_ > 0 && is_training()) att = F::dropout(att, F::DropoutFuncOptions().p(dropout_).training(true));
  auto y = torch::matmul(att, v).transpose(1, 2).reshape({B, T, C});  // [B, T, C]
  y = c_proj(y);
  if (dropout_ > 0 && is_training())
    y = F::dropout(y, F::DropoutFuncOptions().p(dropout_).training(true));
  return y;
}

torch::Tensor CausalSelfAttentionImpl::ForwardStep(const torch::Tensor& x, const StepPlan& plan,
                                                   LayerKv& kv, const torch::Tensor& residual) {
  const int64_t N = x.size(0), C = n_embd_, H = n_head_, D = C / H;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  auto qkv = StepLinear(x, c_attn->weight, c_attn->bias, c_attn_inference);  // [N, 3C]
  auto q = qkv.narrow(1, 0, C).view({N, H, D}) * scale;                      // [N, H, D]
  auto k = qkv.narrow(1, C, C).view({N, H, D});
  auto v = qkv.narrow(1, 2 * C, C).view({N, H, D});

  torch::Tensor y = plan.only_decode && !plan.kernel_attention ? torch::Tensor()
                                                               : torch::empty({N, C}, x.options());
  if (plan.num_decode > 0 && plan.kernel_attention) {
    // Decoding segments: store K/V and attend over each slot's own positions in one kernel.
    kernels::DecodeAttention(qkv, plan.decode_rows, plan.decode_slots, plan.decode_positions, kv.k,
                             kv.v, scale, y);
  } else if (plan.num_decode > 0) {
    // Decoding segments, one new token each: store K/V, then attend as one batch.
    auto q_dec = plan.only_decode ? q : q.index_select(0, plan.decode_rows);  // [Bd, H, D]
    auto k_dec = plan.only_decode ? k : k.index_select(0, plan.decode_rows);
    auto v_dec = plan.only_decode ? v : v.index_select(0, plan.decode_rows);
    kv.k.index_put_({plan.decode_slots, Slice(), plan.decode_positions}, k_dec);
    kv.v.index_put_({plan.decode_slots, Slice(), plan.decode_positions}, v_dec);
    torch::Tensor keys, values, queries;  // [batch, H, L, D], [batch, H, 1, D]
    if (plan.use_slot_range) {
      keys = kv.k.narrow(0, plan.slot_lo, plan.slot_count).narrow(2, 0, plan.decode_len);
      values = kv.v.narrow(0, plan.slot_lo, plan.slot_count).narrow(2, 0, plan.decode_len);
      queries = torch::zeros({plan.slot_count, H, 1, D}, q.options())
                    .index_copy_(0, plan.decode_batch_index, q_dec.unsqueeze(2));
    } else {
      keys = kv.k.index_select(0, plan.decode_slots).narrow(2, 0, plan.decode_len);
      values = kv.v.index_select(0, plan.decode_slots).narrow(2, 0, plan.decode_len);
      queries = q_dec.unsqueeze(2);
    }
    auto att = (torch::matmul(queries, keys.transpose(-2, -1)) + plan.decode_mask).softmax(-1);
    auto out = torch::matmul(att, values);  // [batch, H, 1, D]
    if (plan.use_slot_range) out = out.index_select(0, plan.decode_batch_index);
    out = out.view({plan.num_decode, C});
    if (plan.only_decode) {
      y = out;
    } else {
      y.index_copy_(0, plan.decode_rows, out);
    }
  }
  for (const StepPlan::Prefill& p : plan.prefills) {
    // A prompt chunk: store its K/V, then attend causally over the cached prefix plus itself.
    kv.k[p.slot]
        .narrow(1, p.past_len, p.num_tokens)
        .copy_(k.narrow(0, p.row, p.num_tokens).transpose(0, 1));
    kv.v[p.slot]
        .narrow(1, p.past_len, p.num_tokens)
        .copy_(v.narrow(0, p.row, p.num_tokens).transpose(0, 1));
    const int64_t total = p.past_len + p.num_tokens;
    auto keys = kv.k[p.slot].narrow(1, 0, total);                     // [H, total, D]
    auto values = kv.v[p.slot].narrow(1, 0, total);                   // [H, total, D]
    auto queries = q.narrow(0, p.row, p.num_tokens).transpose(0, 1);  // [H, n, D]
    auto att =
        (torch::matmul(queries, keys.transpose(-2, -1)) + p.mask).softmax(-1);  // [H, n, total]
    y.narrow(0, p.row, p.num_tokens)
        .copy_(torch::matmul(att, values).transpose(0, 1).reshape({p.num_tokens, C}));
  }
  return StepLinear(y, c_proj->weight, c_proj->bias, c_proj_inference, kernels::Activation::kNone,
                    residual);
}

MlpImpl::MlpImpl(const GptConfig& config) {
  const int64_t c = config.n_embd;
  c_fc = register_module("c_fc",
                         torch::nn::Linear(torch::nn::LinearOptions(c, 4 * c).bias(config.bias)));
  c_proj = register_module("c_proj",
                           torch::nn::Linear(torch::nn::LinearOptions(4 * c, c).bias(config.bias)));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  return c_proj(torch::gelu(c_fc(x), "tanh"));
}

torch::Tensor MlpImpl::ForwardStep(const torch::Tensor& x, const torch::Tensor& residual) {
  auto hidden =
      StepLinear(x, c_fc->weight, c_fc->bias, c_fc_inference, kernels::Activation::kGeluTanh);
  return StepLinear(hidden, c_proj->weight, c_proj->bias, c_proj_inference,
                    kernels::Activation::kNone, residual);
}

BlockImpl::BlockImpl(const GptConfig& config) : dropout_(config.dropout) {
  ln_1 = register_module("ln_1", LayerNorm(config.n_embd, config.layer_norm_epsilon, config.bias));
  attn = register_module("attn", CausalSelfAttention(config));
  ln_2 = register_module("ln_2", LayerNorm(config.n_embd, config.layer_norm_epsilon, config.bias));
  mlp = register_module("mlp", Mlp(config));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x) {
  auto h = x + attn(ln_1(x));
  auto m = mlp(ln_2(h));
  if (dropout_ > 0 && is_training())
    m = F::dropout(m, F::DropoutFuncOptions().p(dropout_).training(true));
  return h + m;
}

torch::Tensor BlockImpl::ForwardStep(const torch::Tensor& x, const StepPlan& plan, LayerKv& kv) {
  auto h = attn->ForwardStep(ln_1(x), plan, kv, /*residual=*/x);  // x + attn(ln_1(x))
  return mlp->ForwardStep(ln_2(h), /*residual=*/h);               // h + mlp(ln_2(h))
}

GptImpl::GptImpl(const GptConfig& config, bool initialize)
    : config_(config), dropout_(config.dropout) {
  TORCH_CHECK(config.Validate().ok(), "invalid GptConfig: ", config.Validate().ToString());
  wte = register_module("wte", torch::nn::Embedding(config.vocab_size, config.n_embd));
  wpe = register_module("wpe", torch::nn::Embedding(config.n_positions, config.n_embd));
  h = register_module("h", torch::nn::ModuleList());
  for (int i = 0; i < config.n_layer; ++i) h->push_back(Block(config));
  ln_f = register_module("ln_f", LayerNorm(config.n_embd, config.layer_norm_epsilon, config.bias));

  if (!initialize) return;
  // GPT-2 initialisation.
  torch::NoGradGuard no_grad;
  const double residual_std = 0.02 / std::sqrt(2.0 * config.n_layer);
  for (auto& item : named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& p = item.value();
    if (name.ends_with("c_proj.weight")) {
      p.normal_(0.0, residual_std);
    } else if (name.ends_with(".weight") && p.dim() == 2) {
      p.normal_(0.0, 0.02);
    } else if (name.starts_with("ln") || name.find(".ln_") != std::string::npos) {
      if (name.ends_with(".weight"))
        p.fill_(1.0);
      else
        p.zero_();
    } else {
      p.zero_();  // Linear biases
    }
  }
}

torch::Tensor GptImpl::Hidden(const torch::Tensor& ids) {
  const int64_t T = ids.size(1);
  TORCH_CHECK(T <= config_.n_positions, "sequence length ", T, " exceeds n_positions=", config_.n_positions);
  auto positions = torch::arange(T, torch::TensorOptions().dtype(torch::kInt64).device(ids.device()));
  // Sparse gradient for the token embedding: only the rows of this batch's tokens, added in place
  // to the dense gradient the tied LM head produces (no [V, C] zero-fill and add).
  auto tokens = F::embedding(ids, wte->weight, F::EmbeddingFuncOptions().sparse(is_training()));
  auto x = tokens + wpe(positions);  // [B, T, C]
  if (dropout_ > 0 && is_training()) x = F::dropout(x, F::DropoutFuncOptions().p(dropout_).training(true));
  for (auto& block : *h) x = block->as<Block>()->forward(x);
  return ln_f(x);
}

torch::Tensor GptImpl::LmHead(const torch::Tensor& hidden) {
  return torch::matmul(hidden, wte->weight.t());
}

torch::Tensor GptImpl::forward(const torch::Tensor& ids) { return LmHead(Hidden(ids)); }

torch::Tensor GptImpl::ForwardStep(const torch::Tensor& tokens,
                                   const std::vector<StepSegment>& segments,
                                   std::vector<LayerKv>& kv) {
  TORCH_CHECK(static_cast<int>(kv.size()) == config_.n_layer, "KV cache has ", kv.size(),
              " layers, model has ", config_.n_layer);
  const bool kernel_attention = kernels::Available() && kv[0].k.scalar_type() == torch::kFloat32 &&
                                kv[0].k.is_contiguous() && kv[0].v.is_contiguous() &&
                                config_.head_dim() <= 256;
  const StepPlan plan(segments, kv[0].k.size(2), kernel_attention);
  TORCH_CHECK(tokens.dim() == 1 && tokens.size(0) == plan.num_rows, "tokens must be [",
              plan.num_rows, "] for these segments");
  std::vector<int64_t> positions;
  positions.reserve(plan.num_rows);
  for (const StepSegment& s : segments) {
    for (int i = 0; i < s.num_tokens; ++i) positions.push_back(s.past_len + i);
  }
  auto x = wte(tokens) + wpe(torch::tensor(positions, torch::kInt64));  // [N, C]
  for (size_t i = 0; i < h->size(); ++i) x = h[i]->as<Block>()->ForwardStep(x, plan, kv[i]);
  if (!plan.outputs_are_all_rows) x = x.index_select(0, plan.output_rows);
  return StepLinear(ln_f(x), wte->weight, {}, lm_head_inference_);  // [R, V]
}

void GptImpl::PrepareInference(torch::ScalarType dtype) {
  TORCH_CHECK(dtype == torch::kFloat32 || dtype == torch::kBFloat16 || dtype == torch::ScalarType::Undefined,
              "inference weights must be float32, bfloat16 or undefined (none)");
  torch::NoGradGuard no_grad;
  const int64_t group = dtype == torch::kBFloat16 ? 32 : 16;
  auto prepare = [&](const torch::Tensor& weight) {
    InferenceWeight w;
    if (dtype == torch::ScalarType::Undefined) return w;
    // Shapes the kernels cannot take keep the LibTorch path (with the bf16 copy if asked).
    if (weight.size(1) % group == 0) w.packed = kernels::PackedWeight::Pack(weight, dtype);
    if (dtype == torch::kBFloat16) w.bf16 = weight.detach().to(torch::kBFloat16).contiguous();
    return w;
  };
  for (auto& module : *h) {
    auto* block = module->as<Block>();
    block->attn->c_attn_inference = prepare(block->attn->c_attn->weight);
    block->attn->c_proj_inference = prepare(block->attn->c_proj->weight);
    block->mlp->c_fc_inference = prepare(block->mlp->c_fc->weight);
    block->mlp->c_proj_inference = prepare(block->mlp->c_proj->weight);
  }
  lm_head_inference_ = prepare(wte->weight);
  inference_dtype_ = dtype;
}

std::vector<LayerKv> GptImpl::NewKvCache(int slots, int max_len, torch::ScalarType dtype) const {
  std::vector<LayerKv> cache;
  const int64_t H = config_.n_head, D = config_.head_dim();
  for (int i = 0; i < config_.n_layer; ++i) {
    cache.push_back(
        {torch::zeros({slots, H, max_len, D}, dtype), torch::zeros({slots, H, max_len, D}, dtype)});
  }
  return cache;
}

torch::Tensor CrossEntropyLoss(const torch::Tensor& logits, const torch::Tensor& targets,
                               int64_t ignore_index) {
  return F::cross_entropy(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}),
                          F::CrossEntropyFuncOptions().ignore_index(ignore_index));
}

}  // namespace plume::core
