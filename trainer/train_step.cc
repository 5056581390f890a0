#include "trainer/train_step.h"

#include <torch/torch.h>

#include "core/gpt.h"
#include "core/lm_head_loss.h"
#include "trainer/adam_optimizer.h"

namespace plume::trainer {
namespace {

// Hidden states of a micro-batch as rows: [B*T, C].
torch::Tensor HiddenRows(core::GptImpl& model, const MicroBatch& micro) {
  auto hidden = model.Hidden(micro.inputs);  // [B, T, C]
  return hidden.view({-1, hidden.size(-1)});
}

int64_t CountTargets(const MicroBatch& micro) {
  return micro.targets.ne(kIgnoreIndex).sum().item<int64_t>();
}

}  // namespace

StepResult TrainStep(core::GptImpl& model, AdamOptimizer& optimizer,
                     const std::vector<MicroBatch>& batch, double lr, double grad_clip) {
  StepResult result;
  for (const MicroBatch& micro : batch) result.tokens += CountTargets(micro);
  optimizer.ZeroGrad();
  if (result.tokens == 0) return result;
  const double scale = 1.0 / static_cast<double>(result.tokens);
  for (const MicroBatch& micro : batch) {
    auto loss = core::LmHeadCrossEntropy(HiddenRows(model, micro), model.wte->weight,
                                         micro.targets.reshape({-1}), scale, kIgnoreIndex);
    result.loss += loss.item<double>();
    loss.backward();
  }
  result.grad_norm = optimizer.ClipGradNorm(grad_clip);
  optimizer.Step(lr);
  return result;
}

LossSum EvaluateLoss(core::GptImpl& model, const std::vector<MicroBatch>& batch) {
  torch::NoGradGuard no_grad;
  LossSum out;
  for (const MicroBatch& micro : batch) {
    out.sum += core::LmHeadTokenLosses(HiddenRows(model, micro), model.wte->weight,
                                       micro.targets.reshape({-1}), kIgnoreIndex)
                   .sum()
                   .item<double>();
    out.tokens += CountTargets(micro);
  }
  return out;
}

}  // namespace plume::trainer
