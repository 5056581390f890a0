#include "trainer/adam_optimizer.h"

#include <torch/torch.h>

#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "core/parallel.h"

namespace plume::trainer {
namespace {

struct AdamScalars {
  float beta1, beta2, one_minus_beta1, one_minus_beta2;
  float step_size;      // lr / (1 - beta1^t)
  float bc2_sqrt;       // sqrt(1 - beta2^t)
  float eps;
  float param_scale;    // AdamW: 1 - lr * weight_decay; else 1
  float grad_l2;        // Adam: weight_decay added to the gradient as L2; else 0
};

// The same arithmetic as torch.optim.Adam/AdamW (single-tensor path), fused into one pass.
// Compiled for AVX-512, AVX2 and baseline x86-64; the loader picks the best the CPU has.
__attribute__((target_clones("avx512f", "avx2", "default")))
void AdamKernel(float* __restrict p, const float* __restrict g, float* __restrict m,
                float* __restrict v, int64_t n, AdamScalars s) {
  for (int64_t i = 0; i < n; ++i) {
    const float grad = g[i] + s.grad_l2 * p[i];
    const float param = p[i] * s.param_scale;
    const float mi = m[i] * s.beta1 + grad * s.one_minus_beta1;
    const float vi = v[i] * s.beta2 + grad * grad * s.one_minus_beta2;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / s.bc2_sqrt + s.eps;
    p[i] = param - s.step_size * (mi / denom);
  }
}

}  // namespace

absl::Status AdamOptions::Validate() const {
  if (!(beta1 >= 0 && beta1 < 1)) return absl::InvalidArgumentError(absl::StrCat("optimizer: beta1=", beta1, " must be in [0, 1)"));
  if (!(beta2 >= 0 && beta2 < 1)) return absl::InvalidArgumentError(absl::StrCat("optimizer: beta2=", beta2, " must be in [0, 1)"));
  if (!(eps > 0)) return absl::InvalidArgumentError(absl::StrCat("optimizer: eps=", eps, " must be > 0"));
  if (!(weight_decay >= 0 && weight_decay < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("optimizer: weight_decay=", weight_decay, " must be in [0, 1)"));
  }
  return absl::OkStatus();
}

AdamOptimizer::AdamOptimizer(NamedTensors params, AdamOptions options) : options_(options) {
  for (auto& [name, param] : params) {
    TORCH_CHECK(param.scalar_type() == torch::kFloat32 && param.is_contiguous(),
                "AdamOptimizer needs contiguous float32 parameters: ", name);
    slots_.push_back({name, param, torch::zeros_like(param), torch::zeros_like(param), param.dim() >= 2});
  }
}

void AdamOptimizer::Step(double lr) {
  ++step_;
  const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step_));
  const double bc2 = 1.0 - std::pow(options_.beta2, static_cast<double>(step_));
  for (Slot& slot : slots_) {
    torch::Tensor grad = slot.param.grad();
    if (!grad.defined()) continue;
    if (grad.is_sparse()) grad = grad.to_dense();
    TORCH_CHECK(grad.is_contiguous() && grad.scalar_type() == torch::kFloat32, "bad gradient for ", slot.name);
    const double wd = slot.decay ? options_.weight_decay : 0.0;
    AdamScalars s{};
    s.beta1 = static_cast<float>(options_.beta1);
    s.beta2 = static_cast<float>(options_.beta2);
    s.one_minus_beta1 = static_cast<float>(1.0 - options_.beta1);
    s.one_minus_beta2 = static_cast<float>(1.0 - options_.beta2);
    s.step_size = static_cast<float>(lr / bc1);
    s.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
    s.eps = static_cast<float>(options_.eps);
    s.param_scale = options_.decoupled_weight_decay ? static_cast<float>(1.0 - lr * wd) : 1.0f;
    s.grad_l2 = options_.decoupled_weight_decay ? 0.0f : static_cast<float>(wd);
    float* p = slot.param.data_ptr<float>();
    const float* g = grad.data_ptr<float>();
    float* m = slot.exp_avg.data_ptr<float>();
    float* v = slot.exp_avg_sq.data_ptr<float>();
    core::ParallelFor(0, slot.param.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
      AdamKernel(p + begin, g + begin, m + begin, v + begin, end - begin, s);
    });
  }
}

void AdamOptimizer::ZeroGrad() {
  // Dropping the gradients (instead of zero-filling 4 bytes per parameter) lets autograd hand
  // the first backward's gradient over without an add.
  for (Slot& slot : slots_) slot.param.mutable_grad() = torch::Tensor();
}

double AdamOptimizer::ClipGradNorm(double max_norm) {
  torch::NoGradGuard no_grad;
  double sum_sq = 0;
  for (const Slot& slot : slots_) {
    torch::Tensor grad = slot.param.grad();
    if (!grad.defined()) continue;
    if (grad.is_sparse()) grad = grad.coalesce().values();
    const torch::Tensor flat = grad.reshape({-1});
    sum_sq += torch::dot(flat, flat).item<double>();
  }
  const double norm = std::sqrt(sum_sq);
  if (max_norm > 0 && norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    for (Slot& slot : slots_) {
      if (slot.param.grad().defined()) slot.param.mutable_grad().mul_(scale);
    }
  }
  return norm;
}

NamedTensors AdamOptimizer::StateTensors() const {
  NamedTensors out;
  for (const Slot& slot : slots_) {
    out.emplace_back("exp_avg." + slot.name, slot.exp_avg);
    out.emplace_back("exp_avg_sq." + slot.name, slot.exp_avg_sq);
  }
  return out;
}

absl::Status AdamOptimizer::LoadState(const NamedTensors& state, int64_t step) {
  std::map<std::string, torch::Tensor> by_name(state.begin(), state.end());
  torch::NoGradGuard no_grad;
  for (Slot& slot : slots_) {
    for (auto [prefix, target] : {std::pair{"exp_avg.", &slot.exp_avg}, std::pair{"exp_avg_sq.", &slot.exp_avg_sq}}) {
      auto it = by_name.find(prefix + slot.name);
      if (it == by_name.end()) {
        return absl::InvalidArgumentError(absl::StrCat("optimizer state has no '", prefix, slot.name, "'"));
      }
      if (!it->second.sizes().equals(target->sizes())) {
        return absl::InvalidArgumentError(absl::StrCat("optimizer state '", prefix, slot.name, "' has the wrong shape"));
      }
      target->copy_(it->second);
    }
  }
  if (by_name.size() != 2 * slots_.size()) {
    return absl::InvalidArgumentError("optimizer state has tensors for parameters the model does not have");
  }
  step_ = step;
  return absl::OkStatus();
}

}  // namespace plume::trainer
