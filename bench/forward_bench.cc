// Forward throughput (tokens/s, no grad) of the GPT model at a tiny shape and at GPT-2 124M
// shape with 256 tokens of context. Threads: PLUME_THREADS (default: all cores).
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdlib>

#include "core/gpt.h"
#include "core/threads.h"

namespace plume {
namespace {

core::GptConfig Shape(bool gpt2) {
  core::GptConfig config;
  if (!gpt2) {
    config.n_layer = 4;
    config.n_head = 4;
    config.n_embd = 128;
    config.n_positions = 256;
    config.vocab_size = 8192;
  }
  return config;
}

void BM_Forward(benchmark::State& state) {
  const bool gpt2 = state.range(0) == 1;
  const int64_t batch = state.range(1), context = 256;
  torch::manual_seed(0);
  core::Gpt model(Shape(gpt2));
  model->eval();
  c10::InferenceMode guard;
  auto ids = torch::randint(0, model->config().vocab_size, {batch, context}, torch::kInt64);
  model->forward(ids);  // warm-up
  for (auto _ : state) {
    benchmark::DoNotOptimize(model->forward(ids).data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * batch * context);
  state.SetLabel(gpt2 ? "gpt2-124M" : "tiny");
  state.counters["threads"] = at::get_num_threads();
}

BENCHMARK(BM_Forward)->ArgNames({"gpt2", "batch"})->Args({0, 8})->Args({1, 1})->Args({1, 4})
    ->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
}  // namespace plume

int main(int argc, char** argv) {
  const char* threads = std::getenv("PLUME_THREADS");
  plume::core::ConfigureTorchThreads(threads ? std::atoi(threads) : 0);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
