// Training throughput: forward + cross-entropy + backward + grad clip + AdamW, the trainer's own
// TrainStep, at the tiny shape and GPT-2 124M shape (batch 4 x 256 tokens), plus this machine's
// fp32 matmul peak measured in the same run. Prints `plume <shape> tokens_per_sec=... ...`.
//   train_step_bench [--threads N] [--steps N] [--shapes tiny,gpt2-124M] [--batch B] [--seq T]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_split.h"
#include "bench/bench_shapes.h"
#include "core/allocator.h"
#include "core/gpt.h"
#include "core/threads.h"
#include "trainer/adam_optimizer.h"
#include "trainer/train_step.h"

namespace plume {
namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double MatmulPeakGflops() {
  auto a = torch::randn({2048, 2048}), b = torch::randn({2048, 2048});
  torch::mm(a, b);
  double best = 1e30;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto c = torch::mm(a, b);
    best = std::min(best, Seconds(t0));
  }
  return 2.0 * 2048 * 2048 * 2048 / best / 1e9;
}


}  // namespace
}  // namespace plume

int main(int argc, char** argv) {
  int threads = 2, steps = 5, batch = 4, seq = 256;
  std::string shapes = "tiny,gpt2-124M";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--threads") threads = std::stoi(value);
    else if (flag == "--steps") steps = std::stoi(value);
    else if (flag == "--batch") batch = std::stoi(value);
    else if (flag == "--seq") seq = std::stoi(value);
    else if (flag == "--shapes") shapes = value;
    else { std::fprintf(stderr, "unknown flag %s\n", flag.c_str()); return 2; }
  }
  using namespace plume;
  core::ConfigureAllocatorForLargeTensors();
  core::ConfigureTorchThreads(threads);
  const double peak = MatmulPeakGflops();
  std::printf("machine matmul_peak_gflops=%.1f threads=%d\n", peak, threads);
  for (const std::string& name : std::vector<std::string>(absl::StrSplit(shapes, ','))) {
    torch::manual_seed(0);
    const core::GptConfig config = bench::BenchShape(name);
    core::Gpt model(config);
    model->train();
    trainer::NamedTensors params;
    for (auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
    trainer::AdamOptimizer optimizer(params, {});
    std::vector<trainer::MicroBatch> micro = {{torch::randint(0, config.vocab_size, {batch, seq}, torch::kInt64),
                                               torch::randint(0, config.vocab_size, {batch, seq}, torch::kInt64)}};
    trainer::TrainStep(*model, optimizer, micro, 3e-4, 1.0);  // warm-up
    std::vector<double> times;
    for (int i = 0; i < steps; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      trainer::TrainStep(*model, optimizer, micro, 3e-4, 1.0);
      times.push_back(Seconds(t0));
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    const double tokens = static_cast<double>(batch) * seq;
    // Matmul FLOPs per token: 6 x (block weights + LM head) + attention scores and mixing.
    const double C = config.n_embd, L = config.n_layer, V = config.vocab_size;
    const double flops_per_token = 6.0 * (12.0 * L * C * C + V * C) + 12.0 * L * seq * C;
    const double gflops = flops_per_token * tokens / median / 1e9;
    std::printf("plume %s tokens_per_sec=%.1f step_ms=%.1f gflops=%.1f peak_fraction=%.2f\n",
                name.c_str(), tokens / median, median * 1e3, gflops, gflops / peak);
    std::fflush(stdout);
  }
  return 0;
}
