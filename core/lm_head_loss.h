// Cross-entropy of the tied LM head computed in row chunks, so the [N, V] logits never exist at
// once (206 MB for 1024 tokens of GPT-2). With gradients enabled, the gradients for the hidden
// states and the head's weight are computed in the same pass (softmax - one-hot), so the
// backward pass only hands them out: no log_softmax backward, no second pass over the logits.
#pragma once

#include <torch/types.h>

namespace plume::core {

// Per-row losses, no gradient: hidden [N, C], weight [V, C], targets [N] int64. Rows whose
// target is `ignore_index` get 0. Returns [N] float32.
torch::Tensor LmHeadTokenLosses(const torch::Tensor& hidden, const torch::Tensor& weight,
                                const torch::Tensor& targets, int64_t ignore_index = -100,
                                int64_t chunk_rows = 256);

// Differentiable `scale * sum(loss over rows with a target)`, e.g. scale = 1 / target_tokens for
// the mean. Gradients flow to `hidden` and `weight`. Returns a scalar.
torch::Tensor LmHeadCrossEntropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                 const torch::Tensor& targets, double scale,
                                 int64_t ignore_index = -100, int64_t chunk_rows = 256);

}  // namespace plume::core
