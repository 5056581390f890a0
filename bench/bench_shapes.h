// The model shapes the benchmarks compare with their PyTorch references (bench/reference/
// pytorch_gpt.py SHAPES): "gpt2-124M" (12 layers, 12 heads, 768 wide, 1024 positions, 50257
// tokens) and "tiny" (4 layers, 4 heads, 256 wide, 256 positions, 8192 tokens).
#pragma once

#include <string>

#include "core/gpt_config.h"

namespace plume::bench {

inline core::GptConfig BenchShape(const std::string& name) {
  core::GptConfig c;  // GptConfig's defaults are GPT-2 124M
  if (name == "tiny") {
    c.n_layer = 4;
    c.n_head = 4;
    c.n_embd = 256;
    c.n_positions = 256;
    c.vocab_size = 8192;
  }
  return c;
}

}  // namespace plume::bench
