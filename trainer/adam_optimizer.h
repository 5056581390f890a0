// Adam and AdamW with one fused, multi-threaded pass per parameter (read p, g, m, v once; write
// p, m, v once) instead of the half-dozen tensor ops per parameter of torch::optim. Weight decay
// applies only to >= 2-D weights (matmul weights and embeddings), never to biases or LayerNorm.
#pragma once

#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace plume::trainer {

struct AdamOptions {
  bool decoupled_weight_decay = true;  // true: AdamW (decay the weights); false: Adam (L2 in the gradient)
  double beta1 = 0.9;                  // first-moment decay
  double beta2 = 0.95;                 // second-moment decay
  double eps = 1e-8;                   // added to sqrt(v_hat)
  double weight_decay = 0.1;           // for >= 2-D weights; 0 = off
  absl::Status Validate() const;
};

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

class AdamOptimizer {
 public:
  // `params` are float32 leaf tensors that require grad (e.g. module->named_parameters()).
  AdamOptimizer(NamedTensors params, AdamOptions options);

  // One update with learning rate `lr` from the parameters' .grad(); parameters without a
  // gradient are skipped. Increments step().
  void Step(double lr);
  void ZeroGrad();  // drops the gradients (set to undefined)
  int64_t step() const { return step_; }

  // Clips the global gradient L2 norm to `max_norm` (no-op when <= 0) and returns the norm
  // before clipping.
  double ClipGradNorm(double max_norm);

  // Optimizer state as named tensors: "exp_avg.<param>", "exp_avg_sq.<param>".
  NamedTensors StateTensors() const;
  // Restores state saved by StateTensors(); every tensor must be present with the right shape.
  absl::Status LoadState(const NamedTensors& state, int64_t step);

 private:
  struct Slot {
    std::string name;
    torch::Tensor param, exp_avg, exp_avg_sq;
    bool decay;
  };
  std::vector<Slot> slots_;
  AdamOptions options_;
  int64_t step_ = 0;
};

}  // namespace plume::trainer
