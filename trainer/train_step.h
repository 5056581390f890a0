// One optimizer step over a batch of micro-batches (gradient accumulation). The loss is the mean
// over every target token of the whole batch — micro-batch losses are summed and divided by the
// batch's target-token count — so accumulation gives exactly the full-batch loss and gradient.
#pragma once

#include <torch/types.h>

#include <vector>

namespace plume::core {
class GptImpl;
}

namespace plume::trainer {

class AdamOptimizer;

inline constexpr int64_t kIgnoreIndex = -100;

struct MicroBatch {
  torch::Tensor inputs;   // [B, T] int64 token ids
  torch::Tensor targets;  // [B, T] int64 next-token ids; kIgnoreIndex = no loss at that position
};

struct StepResult {
  double loss = 0;       // mean cross-entropy over the batch's target tokens
  int64_t tokens = 0;    // target tokens in the batch
  double grad_norm = 0;  // global gradient norm before clipping
};

// Forward + backward of every micro-batch, gradient clipping (grad_clip <= 0: off), and one
// optimizer step at learning rate `lr`. Gradients are zeroed first.
StepResult TrainStep(core::GptImpl& model, AdamOptimizer& optimizer,
                     const std::vector<MicroBatch>& batch, double lr, double grad_clip);

// Summed cross-entropy and target-token count over micro-batches, without gradients.
struct LossSum {
  double sum = 0;
  int64_t tokens = 0;
};
LossSum EvaluateLoss(core::GptImpl& model, const std::vector<MicroBatch>& batch);

}  // namespace plume::trainer
