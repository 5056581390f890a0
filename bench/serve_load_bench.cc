// Load generator for plume-serve, and the same workload on the engine in-process, so that the
// cost of gRPC streaming is measured in one run.
//
//   serve_load_bench --server HOST:PORT --checkpoint DIR [--concurrency 1,16,64] ...
//
// For each concurrency C, C clients each run R completions back to back (--requests_per_client)
// (prompt ~32 tokens, --max_tokens tokens, EOS ignored), first through the engine in the same
// process (Engine::Submit with a sink), then through plume-serve over gRPC (one streaming call
// per completion). Reported per mode: completion tokens/s over the level's wall time, time to
// first token p50/p99 and inter-token latency p50/p99 (a message carrying k tokens after a gap g
// counts k gaps of g/k), and for gRPC the overhead = 1 - grpc_tokens_per_s / engine_tokens_per_s.
// The engine in this process and the server's are configured alike (--threads, --max_running,
// --max_context); run on an otherwise idle machine (bench/run_serve_bench.sh does).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/allocator.h"
#include "plume/v1/completion_service.grpc.pb.h"
#include "services/served_model.h"

ABSL_FLAG(std::string, server, "", "plume-serve HOST:PORT");
ABSL_FLAG(std::string, checkpoint, "", "the checkpoint the server serves (for the in-process run)");
ABSL_FLAG(std::string, concurrency, "1,16,64", "concurrent streams per level");
ABSL_FLAG(std::string, requests_per_client, "2,2,1",
          "completions each client runs, per level (the last value repeats)");
ABSL_FLAG(int, max_tokens, 64, "completion tokens per request");
ABSL_FLAG(int, threads, 2, "LibTorch threads of the in-process engine (as the server's)");
ABSL_FLAG(int, max_running, 64, "engine slots (as the server's --max_running)");
ABSL_FLAG(int, max_context, 256, "engine context (as the server's --max_context)");
ABSL_FLAG(int, rounds, 1, "repeat every level this many times (in-process and gRPC alternate)");

namespace {

using Clock = std::chrono::steady_clock;
constexpr char kPrompt[] =
    "The river ran past the old stone mill, and in the winter light the children of the town "
    "gathered on its banks to watch the ice";

struct Samples {
  std::mutex mu;
  std::vector<double> ttft_ms, itl_ms;
  int64_t tokens = 0;
  void Add(double ttft, const std::vector<double>& itl, int64_t n) {
    std::lock_guard<std::mutex> lock(mu);
    ttft_ms.push_back(ttft);
    itl_ms.insert(itl_ms.end(), itl.begin(), itl.end());
    tokens += n;
  }
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

struct LevelResult {
  double tokens_per_s, ttft_p50, ttft_p99, itl_p50, itl_p99;
};

LevelResult Summarize(Samples& s, double seconds) {
  return {s.tokens / seconds, Percentile(s.ttft_ms, 0.5), Percentile(s.ttft_ms, 0.99),
          Percentile(s.itl_ms, 0.5), Percentile(s.itl_ms, 0.99)};
}

// Records one request's token arrival times; the engine thread calls it.
class TimingSink : public plume::inference::TokenSink {
 public:
  explicit TimingSink(Clock::time_point start) : start_(start), last_(start) {}
  void OnDelta(const plume::inference::Delta& delta) override {
    const int n = static_cast<int>(delta.token_ids.size());
    if (n == 0) return;
    const auto now = Clock::now();
    if (tokens_ == 0) {
      ttft_ms_ = std::chrono::duration<double, std::milli>(now - start_).count();
    } else {
      const double gap = std::chrono::duration<double, std::milli>(now - last_).count() / n;
      for (int i = 0; i < n; ++i) itl_ms_.push_back(gap);
    }
    tokens_ += n;
    last_ = now;
  }
  void OnFinish(const plume::inference::Result& result) override {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    ok_ = result.status.ok();
    cv_.notify_all();
  }
  bool Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_; });
    return ok_;
  }
  double ttft_ms_ = 0;
  std::vector<double> itl_ms_;
  int64_t tokens_ = 0;

 private:
  Clock::time_point start_, last_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false, ok_ = false;
};

LevelResult RunInProcess(plume::services::ServedModel& model, int concurrency, int requests) {
  const std::vector<int32_t> prompt =
      *model.tokenizer.Encode(kPrompt, plume::core::SpecialTokens::kAsText);
  Samples samples;
  std::atomic<bool> failed{false};
  const auto start = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < concurrency; ++c) {
    clients.emplace_back([&, c] {
      for (int r = 0; r < requests; ++r) {
        plume::inference::Request request;
        request.prompt = prompt;
        request.params.max_tokens = absl::GetFlag(FLAGS_max_tokens);
        request.params.temperature = 0.8f;
        request.params.top_p = 0.95f;
        request.params.seed = c * 1000 + r;
        request.params.ignore_eos = true;
        auto sink = std::make_shared<TimingSink>(Clock::now());
        if (!model.engine->Submit(std::move(request), sink).ok() || !sink->Wait()) {
          failed = true;
          return;
        }
        samples.Add(sink->ttft_ms_, sink->itl_ms_, sink->tokens_);
      }
    });
  }
  for (auto& t : clients) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (failed) std::cerr << "serve_load_bench: an in-process request failed\n";
  return Summarize(samples, seconds);
}

LevelResult RunGrpc(plume::v1::CompletionService::Stub* stub, int concurrency, int requests) {
  Samples samples;
  std::atomic<int> failed{0};
  const auto start = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < concurrency; ++c) {
    clients.emplace_back([&, c] {
      for (int r = 0; r < requests; ++r) {
        plume::v1::CompleteRequest request;
        request.set_text(kPrompt);
        request.set_max_tokens(absl::GetFlag(FLAGS_max_tokens));
        request.mutable_sampling()->set_temperature(0.8f);
        request.mutable_sampling()->set_top_p(0.95f);
        request.mutable_sampling()->set_seed(c * 1000 + r);
        request.mutable_stopping()->set_ignore_eos(true);
        grpc::ClientContext context;
        const auto sent = Clock::now();
        auto reader = stub->Complete(&context, request);
        plume::v1::CompleteResponse response;
        double ttft = 0;
        std::vector<double> itl;
        int64_t tokens = 0;
        auto last = sent;
        while (reader->Read(&response)) {
          const int n = response.token_ids_size();
          if (n == 0) continue;
          const auto now = Clock::now();
          if (tokens == 0) {
            ttft = std::chrono::duration<double, std::milli>(now - sent).count();
          } else {
            const double gap = std::chrono::duration<double, std::milli>(now - last).count() / n;
            for (int i = 0; i < n; ++i) itl.push_back(gap);
          }
          tokens += n;
          last = now;
        }
        const grpc::Status status = reader->Finish();
        if (!status.ok()) {
          if (failed++ == 0) std::cerr << "serve_load_bench: " << status.error_message() << "\n";
          return;
        }
        samples.Add(ttft, itl, tokens);
      }
    });
  }
  for (auto& t : clients) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return Summarize(samples, seconds);
}

void Print(const char* mode, int concurrency, const LevelResult& r) {
  std::printf(
      "%-7s streams=%-3d tokens_per_s=%8.1f ttft_p50_ms=%8.1f ttft_p99_ms=%8.1f "
      "itl_p50_ms=%7.2f itl_p99_ms=%7.2f\n",
      mode, concurrency, r.tokens_per_s, r.ttft_p50, r.ttft_p99, r.itl_p50, r.itl_p99);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  plume::core::ConfigureAllocatorForLargeTensors();  // as plume-serve does
  if (absl::GetFlag(FLAGS_server).empty() || absl::GetFlag(FLAGS_checkpoint).empty()) {
    std::cerr << "serve_load_bench --server HOST:PORT --checkpoint DIR\n";
    return 64;
  }
  auto parse_list = [](const std::string& text, std::vector<int>* out) {
    for (absl::string_view part : absl::StrSplit(text, ',')) {
      int value;
      if (!absl::SimpleAtoi(part, &value) || value < 1) return false;
      out->push_back(value);
    }
    return !out->empty();
  };
  std::vector<int> levels, requests;
  if (!parse_list(absl::GetFlag(FLAGS_concurrency), &levels) ||
      !parse_list(absl::GetFlag(FLAGS_requests_per_client), &requests)) {
    std::cerr << "serve_load_bench: bad --concurrency or --requests_per_client\n";
    return 64;
  }
  plume::inference::EngineOptions options;
  options.max_sequences = absl::GetFlag(FLAGS_max_running);
  options.max_waiting = 1024;
  options.max_context = absl::GetFlag(FLAGS_max_context);
  options.max_step_tokens = std::max(256, options.max_sequences);
  options.threads = absl::GetFlag(FLAGS_threads);
  auto model = plume::services::LoadServedModel(absl::GetFlag(FLAGS_checkpoint), "", options);
  if (!model.ok()) {
    std::cerr << "serve_load_bench: " << model.status().message() << "\n";
    return 1;
  }
  if (auto warm = plume::services::WarmUp(*(*model)->engine, absl::Minutes(5)); !warm.ok()) {
    std::cerr << "serve_load_bench: " << warm.message() << "\n";
    return 1;
  }
  grpc::ChannelArguments args;
  // One connection per client thread would be closer to separate clients, but one channel is
  // what a single gRPC client process uses; its HTTP/2 streams are multiplexed.
  auto channel = grpc::CreateCustomChannel(absl::GetFlag(FLAGS_server),
                                           grpc::InsecureChannelCredentials(), args);
  auto stub = plume::v1::CompletionService::NewStub(channel);
  {  // The server is warmed up by plume-serve itself; this only opens the connection.
    grpc::ClientContext context;
    plume::v1::GetModelInfoResponse info;
    const grpc::Status status = stub->GetModelInfo(&context, {}, &info);
    if (!status.ok()) {
      std::cerr << "serve_load_bench: " << status.error_message() << "\n";
      return 1;
    }
  }
  // One request of the workload through each path first: the first prompt of a new length
  // pays for allocations that the measured runs should not.
  RunInProcess(**model, 1, 1);
  RunGrpc(stub.get(), 1, 1);
  std::printf("workload: prompt=%zu chars, max_tokens=%d, requests_per_client=%s, rounds=%d\n",
              sizeof(kPrompt) - 1, absl::GetFlag(FLAGS_max_tokens),
              absl::GetFlag(FLAGS_requests_per_client).c_str(), absl::GetFlag(FLAGS_rounds));
  for (size_t level = 0; level < levels.size(); ++level) {
    const int c = levels[level];
    const int r = requests[std::min(level, requests.size() - 1)];
    double engine_sum = 0, grpc_sum = 0;
    for (int round = 0; round < absl::GetFlag(FLAGS_rounds); ++round) {
      const LevelResult engine = RunInProcess(**model, c, r);
      Print("engine", c, engine);
      const LevelResult grpc = RunGrpc(stub.get(), c, r);
      Print("grpc", c, grpc);
      engine_sum += engine.tokens_per_s;
      grpc_sum += grpc.tokens_per_s;
    }
    std::printf("overhead streams=%-3d grpc_tokens_per_s=%.1f engine_tokens_per_s=%.1f "
                "grpc_cost=%.1f%%\n",
                c, grpc_sum / absl::GetFlag(FLAGS_rounds), engine_sum / absl::GetFlag(FLAGS_rounds),
                100.0 * (1.0 - grpc_sum / engine_sum));
    std::fflush(stdout);
  }
  return 0;
}
