// Forward throughput (tokens/s, no grad, logits for every position) of the GPT model at a tiny
// shape and at GPT-2 124M shape with 256 tokens of context. Prints
// `plume <shape> batch=<b> tokens_per_sec=<x>` per run; bench/run_forward_bench.sh compares them
// with PyTorch eager.
//   forward_bench [--threads N] [--runs tiny:8,gpt2-124M:1,gpt2-124M:4] [--seq T]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "bench/bench_shapes.h"
#include "core/allocator.h"
#include "core/gpt.h"
#include "core/threads.h"


int main(int argc, char** argv) {
  int threads = 2, seq = 256;
  std::string runs = "tiny:8,gpt2-124M:1,gpt2-124M:4";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--threads") threads = std::stoi(value);
    else if (flag == "--runs") runs = value;
    else if (flag == "--seq") seq = std::stoi(value);
    else { std::fprintf(stderr, "unknown flag %s\n", flag.c_str()); return 2; }
  }
  plume::core::ConfigureAllocatorForLargeTensors();
  plume::core::ConfigureTorchThreads(threads);
  for (const std::string& run : std::vector<std::string>(absl::StrSplit(runs, ','))) {
    const std::vector<std::string> parts = absl::StrSplit(run, ':');
    const int batch = std::stoi(parts.at(1));
    torch::manual_seed(0);
    plume::core::Gpt model(plume::bench::BenchShape(parts[0]));
    model->eval();
    c10::InferenceMode guard;
    auto ids = torch::randint(0, model->config().vocab_size, {batch, seq}, torch::kInt64);
    model->forward(ids);  // warm-up
    std::vector<double> times;
    for (int i = 0; i < 5; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      model->forward(ids);
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(times.begin(), times.end());
    std::printf("plume %s batch=%d tokens_per_sec=%.1f\n", parts[0].c_str(), batch,
                static_cast<double>(batch) * seq / times[times.size() / 2]);
    std::fflush(stdout);
  }
  return 0;
}
