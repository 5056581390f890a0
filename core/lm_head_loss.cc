#include "core/lm_head_loss.h"

#include <torch/torch.h>

#include <optional>

namespace plume::core {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// For one chunk: logits -> per-row loss; when `grad_scale` is set, turns `logits` in place into
// scale * (softmax - onehot) with ignored rows zeroed.
torch::Tensor ChunkLosses(torch::Tensor& logits, const torch::Tensor& targets,
                          const torch::Tensor& valid, std::optional<double> grad_scale) {
  auto safe_targets = targets.masked_fill(~valid, 0).unsqueeze(1);  // [r, 1]
  auto row_max = std::get<0>(logits.max(1, /*keepdim=*/true));       // [r, 1]
  logits.sub_(row_max);
  auto target_logit = logits.gather(1, safe_targets);                 // [r, 1]
  logits.exp_();
  auto sum_exp = logits.sum(1, /*keepdim=*/true);                     // [r, 1]
  auto losses = (sum_exp.log() - target_logit).squeeze(1) * valid;   // [r]
  if (grad_scale) {
    auto row_scale = valid.to(torch::kFloat32).unsqueeze(1) * *grad_scale;  // [r, 1]
    logits.mul_(row_scale / sum_exp);
    logits.scatter_add_(1, safe_targets, -row_scale);
  }
  return losses;
}

class LmHeadCrossEntropyFunction : public torch::autograd::Function<LmHeadCrossEntropyFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& hidden,
                               const torch::Tensor& weight, const torch::Tensor& targets,
                               double scale, int64_t ignore_index, int64_t chunk_rows) {
    const int64_t n = hidden.size(0);
    auto grad_hidden = torch::empty_like(hidden);  // [N, C]
    auto grad_weight = torch::zeros_like(weight);  // [V, C]
    auto valid = targets.ne(ignore_index);
    double loss = 0;
    torch::Tensor logits;
    for (int64_t start = 0; start < n; start += chunk_rows) {
      const int64_t rows = std::min(chunk_rows, n - start);
      auto h = hidden.narrow(0, start, rows);  // [r, C]
      logits = torch::mm(h, weight.t());       // [r, V]
      loss += ChunkLosses(logits, targets.narrow(0, start, rows), valid.narrow(0, start, rows), scale)
                  .sum()
                  .item<double>();
      auto grad_rows = grad_hidden.narrow(0, start, rows);
      torch::mm_out(grad_rows, logits, weight);  // [r, C]
      grad_weight.addmm_(logits.t(), h);                                  // [V, C]
    }
    ctx->saved_data["grad_hidden"] = grad_hidden;
    ctx->saved_data["grad_weight"] = grad_weight;
    return torch::tensor(loss * scale, hidden.options());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto grad_hidden = ctx->saved_data["grad_hidden"].toTensor();
    auto grad_weight = ctx->saved_data["grad_weight"].toTensor();
    const torch::Tensor& g = grad_outputs[0];
    if (g.item<double>() != 1.0) {
      grad_hidden = grad_hidden * g;
      grad_weight = grad_weight * g;
    }
    return {grad_hidden, grad_weight, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor LmHeadTokenLosses(const torch::Tensor& hidden, const torch::Tensor& weight,
                                const torch::Tensor& targets, int64_t ignore_index,
                                int64_t chunk_rows) {
  torch::NoGradGuard no_grad;
  const int64_t n = hidden.size(0);
  auto out = torch::empty({n}, torch::kFloat32);
  auto valid = targets.ne(ignore_index);
  for (int64_t start = 0; start < n; start += chunk_rows) {
    const int64_t rows = std::min(chunk_rows, n - start);
    auto logits = torch::mm(hidden.narrow(0, start, rows), weight.t());
    out.narrow(0, start, rows)
        .copy_(ChunkLosses(logits, targets.narrow(0, start, rows), valid.narrow(0, start, rows), std::nullopt));
  }
  return out;
}

torch::Tensor LmHeadCrossEntropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                 const torch::Tensor& targets, double scale, int64_t ignore_index,
                                 int64_t chunk_rows) {
  TORCH_CHECK(hidden.dim() == 2 && weight.dim() == 2 && hidden.size(1) == weight.size(1),
              "LmHeadCrossEntropy: hidden [N, C] and weight [V, C] expected");
  TORCH_CHECK(targets.dim() == 1 && targets.size(0) == hidden.size(0), "targets must be [N]");
  return LmHeadCrossEntropyFunction::apply(hidden, weight, targets, scale, ignore_index, chunk_rows);
}

}  // namespace plume::core
