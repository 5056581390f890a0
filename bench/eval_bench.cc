// plume-eval's scoring throughput: ScoreDocuments (batched windows, InferenceMode, LM head only on
// scored rows, chunked) on random-weight models at the demo shape and GPT-2 124M shape, one
// full-length window per document, for several batch sizes. Prints
// `plume <shape> batch=<b> tokens_per_sec=<x>`; bench/reference/pytorch_eval.py prints the same
// workload in PyTorch eager (full logits + log_softmax, as Hugging Face scoring does).
//   eval_bench [--threads N] [--shapes tiny,gpt2-124M] [--batches 1,8] [--windows W] [--reps R]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "bench/bench_shapes.h"
#include "core/allocator.h"
#include "core/gpt.h"
#include "core/threads.h"
#include "trainer/evaluator.h"


int main(int argc, char** argv) {
  int threads = 2, windows = 16, reps = 3;
  std::string shapes = "tiny,gpt2-124M", batches = "1,8";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--threads") threads = std::stoi(value);
    else if (flag == "--windows") windows = std::stoi(value);
    else if (flag == "--reps") reps = std::stoi(value);
    else if (flag == "--shapes") shapes = value;
    else if (flag == "--batches") batches = value;
    else { std::fprintf(stderr, "unknown flag %s\n", flag.c_str()); return 2; }
  }
  plume::core::ConfigureAllocatorForLargeTensors();
  plume::core::ConfigureTorchThreads(threads);
  for (absl::string_view name : absl::StrSplit(shapes, ',')) {
    const plume::core::GptConfig config = plume::bench::BenchShape(std::string(name));
    torch::manual_seed(0);
    plume::core::Gpt model(config);
    model->eval();
    // One window per document: EOT + n_positions - 1 tokens predicting n_positions tokens.
    std::vector<plume::trainer::TokenizedDocument> docs(windows);
    for (auto& d : docs) {
      auto ids = torch::randint(0, config.vocab_size, {config.n_positions + 1}, torch::kInt32);
      d.ids.assign(ids.data_ptr<int32_t>(), ids.data_ptr<int32_t>() + ids.numel());
    }
    for (absl::string_view b : absl::StrSplit(batches, ',')) {
      int batch = 1;
      if (!absl::SimpleAtoi(b, &batch)) return 2;
      plume::trainer::ScoreDocuments(*model, {docs[0]}, config.n_positions, config.n_positions, batch);  // warm-up
      double best = 1e30;
      int64_t tokens = 0;
      for (int r = 0; r < reps; ++r) {
        const auto stats = plume::trainer::ScoreDocuments(*model, docs, config.n_positions, config.n_positions, batch);
        best = std::min(best, stats.seconds);
        tokens = stats.tokens;
      }
      std::printf("plume %s batch=%d tokens_per_sec=%.0f threads=%d windows=%d window=%d\n", std::string(name).c_str(),
                  batch, static_cast<double>(tokens) / best, threads, windows, config.n_positions);
      std::fflush(stdout);
    }
  }
  return 0;
}
