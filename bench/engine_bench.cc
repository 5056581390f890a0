// Engine throughput at GPT-2 124M shape (random weights), through the public Engine API:
//   - memory bandwidth of this machine (STREAM-style triad, and a read-only sweep);
//   - prefill tokens/s (time to first token of one long prompt);
//   - decode tokens/s of 1 stream and aggregate decode tokens/s of 4, 16 and 64 concurrent
//     streams (greedy, fixed lengths; measured while every stream is decoding);
// for fp32 weights and for bf16 inference weights. Each figure is the best of --reps runs (the
// machine is shared; the best run is the one least disturbed). Prints a table and, with --json,
// the numbers for bench/reference/pytorch_decode.py, which runs the same loop in PyTorch eager
// and prints the ratios (bench/run_engine_bench.sh runs both).
#include <immintrin.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <random>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/checkpoint.h"
#include "core/gpt.h"
#include "core/parallel.h"
#include "core/threads.h"
#include "inference/engine.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(int, threads, 0, "intra-op threads; 0 = all cores");
ABSL_FLAG(int, prompt_tokens, 32, "prompt length of the decode runs");
ABSL_FLAG(int, new_tokens, 128, "tokens generated per stream in the decode runs");
ABSL_FLAG(int, prefill_tokens, 128, "prompt length of the prefill run");
ABSL_FLAG(std::string, streams, "1,4,16,64", "concurrent streams to measure");
ABSL_FLAG(std::string, weights, "f32,bf16", "inference weight types to measure");
ABSL_FLAG(int, reps, 3, "runs per figure; the best is reported");
ABSL_FLAG(std::string, json, "", "write the results here (for pytorch_decode.py)");
ABSL_FLAG(std::string, checkpoint, "", "also save the random model here (for the reference)");

namespace plume {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// ---- Memory bandwidth ------------------------------------------------------------------------

// GCC 12 reports its own _mm512_undefined_ps() placeholders inside the intrinsics headers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#define BENCH_AVX512 __attribute__((target("avx512f")))

BENCH_AVX512 void TriadChunk(float* a, const float* b, const float* c, int64_t n) {
  const __m512 s = _mm512_set1_ps(3.0f);
  for (int64_t i = 0; i < n; i += 16) {
    _mm512_storeu_ps(a + i, _mm512_fmadd_ps(s, _mm512_loadu_ps(c + i), _mm512_loadu_ps(b + i)));
  }
}

// Sums [p, p + n) as 8 interleaved sequential streams: one core's reads go fastest over a few
// long streams (one stream alone reaches about two thirds of it here).
BENCH_AVX512 float SumStreams(const float* p, int64_t n) {
  constexpr int kStreams = 8;
  const int64_t part = n / kStreams;
  __m512 acc[kStreams];
  for (int s = 0; s < kStreams; ++s) acc[s] = _mm512_setzero_ps();
  for (int64_t i = 0; i < part; i += 32) {
    for (int s = 0; s < kStreams; ++s) {
      acc[s] = _mm512_add_ps(acc[s], _mm512_add_ps(_mm512_loadu_ps(p + s * part + i),
                                                   _mm512_loadu_ps(p + s * part + i + 16)));
    }
  }
  for (int s = 1; s < kStreams; ++s) acc[0] = _mm512_add_ps(acc[0], acc[s]);
  return _mm512_reduce_add_ps(acc[0]);
}

struct Bandwidth {
  double triad_gbs = 0;  // STREAM triad a = b + s*c: 12 bytes per float element, plain stores
  double read_gbs = 0;   // read-only sweeps over a working set the size of the weights
};

// Best of 5 like STREAM. The read sweep is what decoding does to the weights (read each once
// per token, write nothing), over the same number of bytes, so caches help it exactly as much;
// the triad (256 MiB arrays) is the usual figure, for reference. Needs AVX-512 (so do the
// engine's kernels); elsewhere it reports zeros.
Bandwidth MeasureBandwidth(int64_t read_bytes) {
  Bandwidth bw;
  if (!__builtin_cpu_supports("avx512f")) return bw;
  const int64_t n = int64_t{256} << 20 >> 2;
  {
    auto a = torch::zeros({n}), b = torch::rand({n}), c = torch::rand({n});
    float *pa = a.data_ptr<float>(), *pb = b.data_ptr<float>(), *pc = c.data_ptr<float>();
    double best = 1e9;
    for (int rep = 0; rep < 5; ++rep) {
      const auto t0 = Clock::now();
      core::ParallelFor(0, n / 128, 512, [&](int64_t s, int64_t e) {
        TriadChunk(pa + s * 128, pb + s * 128, pc + s * 128, (e - s) * 128);
      });
      best = std::min(best, Seconds(t0, Clock::now()));
    }
    bw.triad_gbs = 12.0 * n / best / 1e9;
  }
  const int threads = at::get_num_threads();
  const int64_t m = read_bytes / 4 / (threads * 256) * (threads * 256);
  auto data = torch::rand({m});
  const float* p = data.data_ptr<float>();
  std::vector<float> sums(threads);
  double best = 1e9;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = Clock::now();
    core::ParallelFor(0, threads, 1, [&](int64_t s, int64_t e) {
      for (int64_t t = s; t < e; ++t) sums[t] += SumStreams(p + t * (m / threads), m / threads);
    });
    best = std::min(best, Seconds(t0, Clock::now()));
  }
  bw.read_gbs = 4.0 * m / best / 1e9;
  return bw;
}

// ---- Engine runs -----------------------------------------------------------------------------

// Records when each token of one request arrived.
class TimingSink : public inference::TokenSink {
 public:
  void OnDelta(const inference::Delta& delta) override {
    const auto now = Clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    for (int32_t token : delta.token_ids) {
      tokens_.push_back(token);
      times_.push_back(now);
    }
  }
  void OnFinish(const inference::Result& result) override {
    std::lock_guard<std::mutex> lock(mu_);
    result_ = result;
    done_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_; });
  }
  // After Wait().
  const std::vector<int32_t>& tokens() const { return tokens_; }
  const std::vector<Clock::time_point>& times() const { return times_; }
  const inference::Result& result() const { return result_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::vector<int32_t> tokens_;
  std::vector<Clock::time_point> times_;
  inference::Result result_;
};

inference::Vocabulary BenchVocab(int size) {
  std::vector<std::string> tokens;
  for (int i = 0; i < size - 1; ++i) {
    tokens.push_back(i < 256 ? std::string(1, static_cast<char>(i)) : absl::StrCat(" t", i));
  }
  tokens.push_back("<|endoftext|>");
  return *inference::Vocabulary::Create(tokens, {size - 1}, size - 1);
}

std::vector<int32_t> RandomPrompt(std::mt19937& rng, int length, int vocab) {
  std::vector<int32_t> prompt(length);
  for (int32_t& t : prompt) t = static_cast<int32_t>(rng() % (vocab - 1));
  return prompt;
}

inference::Request Greedy(std::vector<int32_t> prompt, int max_tokens) {
  inference::Request request;
  request.prompt = std::move(prompt);
  request.params.temperature = 0.0f;
  request.params.max_tokens = max_tokens;
  request.params.ignore_eos = true;
  return request;
}

std::vector<std::shared_ptr<TimingSink>> RunAll(inference::Engine& engine,
                                                const std::vector<inference::Request>& requests,
                                                Clock::time_point* start) {
  std::vector<std::shared_ptr<TimingSink>> sinks;
  *start = Clock::now();
  for (const auto& request : requests) {
    sinks.push_back(std::make_shared<TimingSink>());
    auto id = engine.Submit(request, sinks.back());
    if (!id.ok()) {
      std::fprintf(stderr, "submit failed: %s\n", id.status().ToString().c_str());
      std::exit(1);
    }
  }
  for (auto& sink : sinks) sink->Wait();
  return sinks;
}

// Aggregate decode rate while all streams decode: tokens that arrive between the moment the
// last stream got its first token and the moment the first stream finished.
double SteadyDecodeRate(const std::vector<std::shared_ptr<TimingSink>>& sinks) {
  Clock::time_point begin = Clock::time_point::min(), end = Clock::time_point::max();
  for (const auto& sink : sinks) {
    begin = std::max(begin, sink->times().front());
    end = std::min(end, sink->times().back());
  }
  int64_t tokens = 0;
  for (const auto& sink : sinks) {
    for (const auto& t : sink->times()) tokens += t > begin && t <= end;
  }
  return Seconds(begin, end) > 0 ? tokens / Seconds(begin, end) : 0.0;
}

struct WeightsResult {
  double weight_bytes = 0;  // bytes of weights read per decoded token
  double prefill_tok_s = 0;
  std::map<int, double> decode_tok_s;  // streams -> aggregate tokens/s
  std::vector<int32_t> greedy_tokens;  // the 1-stream completion (same prompt for all)
};

double WeightBytesPerToken(core::GptImpl& model, bool bf16) {
  double bytes = 0;
  for (const auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    const torch::Tensor& p = item.value();
    if (name == "wpe.weight") {
      bytes += p.size(1) * 4.0;  // one position row per token
    } else if (p.dim() == 2) {
      bytes += p.numel() * (bf16 ? 2.0 : 4.0);  // Linear weights and wte (the LM head)
    } else {
      bytes += p.numel() * 4.0;  // biases, LayerNorm
    }
  }
  return bytes;
}

WeightsResult RunWeights(std::shared_ptr<core::GptImpl> model, bool bf16,
                         const std::vector<int>& streams, const std::vector<int32_t>& prompt,
                         int threads) {
  const int vocab = model->config().vocab_size;
  const int prompt_tokens = absl::GetFlag(FLAGS_prompt_tokens);
  const int new_tokens = absl::GetFlag(FLAGS_new_tokens);
  const int prefill_tokens = absl::GetFlag(FLAGS_prefill_tokens);
  const int reps = absl::GetFlag(FLAGS_reps);
  inference::EngineOptions options;
  options.max_sequences = *std::max_element(streams.begin(), streams.end());
  options.max_context = std::max(prompt_tokens + new_tokens, prefill_tokens + 1);
  options.max_step_tokens = std::max(512, options.max_sequences);
  options.max_waiting = 0;
  options.threads = threads;
  options.bf16_weights = bf16;
  auto engine = inference::Engine::Create(model, BenchVocab(vocab), options);
  if (!engine.ok()) {
    std::fprintf(stderr, "engine: %s\n", engine.status().ToString().c_str());
    std::exit(1);
  }
  WeightsResult result;
  result.weight_bytes = WeightBytesPerToken(*model, bf16);
  std::mt19937 rng(1);
  Clock::time_point start;
  // Warm-up (first touches of weights and cache, thread pool start).
  RunAll(**engine, {Greedy(RandomPrompt(rng, prompt_tokens, vocab), 8)}, &start);

  for (int rep = 0; rep < reps; ++rep) {
    auto sinks = RunAll(**engine, {Greedy(RandomPrompt(rng, prefill_tokens, vocab), 1)}, &start);
    result.prefill_tok_s =
        std::max(result.prefill_tok_s, prefill_tokens / Seconds(start, sinks[0]->times().front()));
  }
  for (int n : streams) {
    double best = 0;
    for (int rep = 0; rep < reps; ++rep) {
      std::vector<inference::Request> requests;
      for (int i = 0; i < n; ++i) {
        requests.push_back(
            Greedy(i == 0 ? prompt : RandomPrompt(rng, prompt_tokens, vocab), new_tokens));
      }
      auto sinks = RunAll(**engine, requests, &start);
      const double rate =
          n == 1 ? (new_tokens - 1) / Seconds(sinks[0]->times().front(), sinks[0]->times().back())
                 : SteadyDecodeRate(sinks);
      best = std::max(best, rate);
      if (n == 1 && rep == 0) result.greedy_tokens = sinks[0]->tokens();
    }
    result.decode_tok_s[n] = best;
  }
  return result;
}

std::vector<int> ParseInts(const std::string& text) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int value = 0;
    if (!absl::SimpleAtoi(part, &value) || value < 1) {
      std::fprintf(stderr, "bad number '%s'\n", std::string(part).c_str());
      std::exit(1);
    }
    out.push_back(value);
  }
  return out;
}

int Main() {
  const int threads = core::ConfigureTorchThreads(absl::GetFlag(FLAGS_threads));
  c10::InferenceMode inference_mode;
  const std::vector<int> streams = ParseInts(absl::GetFlag(FLAGS_streams));
  std::vector<bool> weight_types;
  for (absl::string_view w : absl::StrSplit(absl::GetFlag(FLAGS_weights), ',', absl::SkipEmpty())) {
    if (w != "f32" && w != "bf16") {
      std::fprintf(stderr, "--weights takes f32 and/or bf16\n");
      return 1;
    }
    weight_types.push_back(w == "bf16");
  }
  std::printf("threads=%d  GPT-2 124M shape, random weights; prompt=%d new=%d prefill=%d\n",
              threads, absl::GetFlag(FLAGS_prompt_tokens), absl::GetFlag(FLAGS_new_tokens),
              absl::GetFlag(FLAGS_prefill_tokens));
  torch::manual_seed(0);
  auto model = std::make_shared<core::GptImpl>(core::GptConfig());
  const std::string checkpoint = absl::GetFlag(FLAGS_checkpoint);
  if (!checkpoint.empty()) {
    const absl::Status saved = core::SaveCheckpoint(checkpoint, *model);
    if (!saved.ok()) {
      std::fprintf(stderr, "saving the checkpoint: %s\n", saved.ToString().c_str());
      return 1;
    }
  }
  std::mt19937 rng(7);
  const std::vector<int32_t> prompt =
      RandomPrompt(rng, absl::GetFlag(FLAGS_prompt_tokens), model->config().vocab_size);

  nlohmann::json json;
  json["threads"] = threads;
  json["prompt"] = prompt;
  json["new_tokens"] = absl::GetFlag(FLAGS_new_tokens);
  json["prompt_tokens"] = absl::GetFlag(FLAGS_prompt_tokens);
  json["prefill_tokens"] = absl::GetFlag(FLAGS_prefill_tokens);
  json["streams"] = streams;
  for (bool bf16 : weight_types) {
    const char* name = bf16 ? "bf16" : "f32";
    // Measured right before the runs it bounds, over the bytes they read per token.
    const Bandwidth bw = MeasureBandwidth(static_cast<int64_t>(WeightBytesPerToken(*model, bf16)));
    const WeightsResult r = RunWeights(model, bf16, streams, prompt, threads);
    std::printf(
        "%s weights (%.1f MB read per token); memory bandwidth: read %.1f GB/s over that "
        "many bytes, triad %.1f GB/s\n",
        name, r.weight_bytes / 1e6, bw.read_gbs, bw.triad_gbs);
    std::printf("  prefill %d tokens: %8.1f tok/s\n", absl::GetFlag(FLAGS_prefill_tokens),
                r.prefill_tok_s);
    const double single = r.decode_tok_s.begin()->second;
    for (const auto& [n, rate] : r.decode_tok_s) {
      std::printf("  decode %2d stream%s: %8.1f tok/s  (%.1fx the first)\n", n, n == 1 ? " " : "s",
                  rate, rate / single);
    }
    if (bw.read_gbs > 0) {
      const double bound = bw.read_gbs * 1e9 / r.weight_bytes;
      std::printf(
          "  bandwidth bound (read bandwidth / bytes per token): %.1f tok/s; single stream "
          "at %.0f%% of it (of the triad-based %.1f tok/s: %.0f%%)\n",
          bound, 100.0 * single / bound, bw.triad_gbs * 1e9 / r.weight_bytes,
          100.0 * single / (bw.triad_gbs * 1e9 / r.weight_bytes));
    }
    nlohmann::json entry;
    entry["weight_bytes"] = r.weight_bytes;
    entry["bandwidth"] = {{"triad_gbs", bw.triad_gbs}, {"read_gbs", bw.read_gbs}};
    entry["prefill_tok_s"] = r.prefill_tok_s;
    for (const auto& [n, rate] : r.decode_tok_s) entry["decode_tok_s"][std::to_string(n)] = rate;
    entry["greedy_tokens"] = r.greedy_tokens;
    json[name] = entry;
  }
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty()) std::ofstream(json_path) << json.dump(1) << "\n";
  return 0;
}

}  // namespace
}  // namespace plume

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return plume::Main();
}
