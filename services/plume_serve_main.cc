// plume-serve: serves a checkpoint over gRPC (plume.v1.CompletionService, grpc.health.v1,
// reflection) with Prometheus metrics on HTTP.
//   plume-serve --checkpoint DIR [--config configs/serve/default.yaml] [--listen HOST:PORT] ...
// Flags override the YAML file's keys. Once the model is loaded and warmed up it prints
// "listening on HOST:PORT" on stdout. SIGTERM/SIGINT: drain (health NOT_SERVING, new calls
// UNAVAILABLE, streams in flight finish within drain_grace_seconds), then exit 0; a second signal
// ends the grace period at once.
#include <pthread.h>
#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "core/allocator.h"
#include "services/plume_server.h"

ABSL_FLAG(std::string, config, "", "serving config (YAML), e.g. configs/serve/default.yaml");
ABSL_FLAG(std::optional<std::string>, checkpoint, std::nullopt,
          "model directory to serve (overrides checkpoint)");
ABSL_FLAG(std::optional<std::string>, model_name, std::nullopt, "name reported by GetModelInfo");
ABSL_FLAG(std::optional<std::string>, listen, std::nullopt,
          "gRPC HOST:PORT (overrides listen; port 0 = a free port)");
ABSL_FLAG(std::optional<std::string>, metrics_listen, std::nullopt,
          "HTTP HOST:PORT for /metrics (overrides metrics_listen; empty = off)");
ABSL_FLAG(std::optional<std::string>, weights, std::nullopt,
          "weights the decoding steps multiply with: float32 or bfloat16");
ABSL_FLAG(std::optional<int>, threads, std::nullopt, "LibTorch threads for the model; 0 = all");
ABSL_FLAG(std::optional<int>, max_running, std::nullopt, "sequences decoding together");
ABSL_FLAG(std::optional<int>, max_waiting, std::nullopt,
          "requests queued beyond the running ones before RESOURCE_EXHAUSTED");
ABSL_FLAG(std::optional<int>, max_step_tokens, std::nullopt,
          "tokens per forward step (decode + prompt chunks)");
ABSL_FLAG(std::optional<int>, max_context, std::nullopt,
          "tokens per sequence; 0 = the model's n_positions");
ABSL_FLAG(std::optional<int>, default_max_tokens, std::nullopt,
          "max_tokens of requests that leave it unset; 0 = min(128, max_new_tokens)");
ABSL_FLAG(std::optional<int>, max_prompt_tokens, std::nullopt, "longest prompt; 0 = context - 1");
ABSL_FLAG(std::optional<int>, max_new_tokens, std::nullopt, "largest max_tokens of a request");
ABSL_FLAG(std::optional<int>, max_request_bytes, std::nullopt, "largest request message");
ABSL_FLAG(std::optional<std::string>, tls_cert, std::nullopt, "PEM certificate chain (TLS)");
ABSL_FLAG(std::optional<std::string>, tls_key, std::nullopt, "PEM private key (TLS)");
ABSL_FLAG(std::optional<std::string>, tls_client_ca, std::nullopt,
          "PEM CA bundle; clients must present a certificate it signed");
ABSL_FLAG(std::optional<std::string>, api_keys_file, std::nullopt,
          "file with one API key per line; clients send 'authorization: Bearer <key>'");
ABSL_FLAG(std::optional<double>, drain_grace_seconds, std::nullopt,
          "how long streams may take to finish after SIGTERM");
ABSL_FLAG(std::optional<bool>, log_prompts, std::nullopt, "log prompt text with each request");

namespace {

int Fail(const absl::Status& status) {
  std::cerr << "plume-serve: " << status.message() << "\n";
  return 1;
}

template <typename T>
void Override(const absl::Flag<std::optional<T>>& flag, T* field) {
  if (std::optional<T> value = absl::GetFlag(flag); value.has_value()) *field = *value;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "plume-serve --checkpoint DIR [--config FILE] [--listen HOST:PORT] [--metrics_listen "
      "HOST:PORT] [--tls_cert PEM --tls_key PEM] [--api_keys_file FILE] ...");
  // Signals go to one thread that waits for them; every other thread (gRPC's, the engine's)
  // inherits the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() > 1) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("unexpected argument: ", args[1])));
  }
  plume::services::ServeConfig config;
  if (!absl::GetFlag(FLAGS_config).empty()) {
    absl::StatusOr<plume::services::ServeConfig> loaded =
        plume::services::ServeConfig::FromYamlFile(absl::GetFlag(FLAGS_config));
    if (!loaded.ok()) return Fail(loaded.status());
    config = *std::move(loaded);
  }
  Override(FLAGS_checkpoint, &config.checkpoint);
  Override(FLAGS_model_name, &config.model_name);
  Override(FLAGS_listen, &config.listen);
  Override(FLAGS_metrics_listen, &config.metrics_listen);
  Override(FLAGS_threads, &config.threads);
  Override(FLAGS_weights, &config.weights);
  Override(FLAGS_max_running, &config.max_running);
  Override(FLAGS_max_waiting, &config.max_waiting);
  Override(FLAGS_max_step_tokens, &config.max_step_tokens);
  Override(FLAGS_max_context, &config.max_context);
  Override(FLAGS_default_max_tokens, &config.default_max_tokens);
  Override(FLAGS_max_prompt_tokens, &config.max_prompt_tokens);
  Override(FLAGS_max_new_tokens, &config.max_new_tokens);
  Override(FLAGS_max_request_bytes, &config.max_request_bytes);
  Override(FLAGS_tls_cert, &config.tls_cert);
  Override(FLAGS_tls_key, &config.tls_key);
  Override(FLAGS_tls_client_ca, &config.tls_client_ca);
  Override(FLAGS_api_keys_file, &config.api_keys_file);
  Override(FLAGS_drain_grace_seconds, &config.drain_grace_seconds);
  Override(FLAGS_log_prompts, &config.log_prompts);

  plume::core::ConfigureAllocatorForLargeTensors();  // before gRPC's and the engine's threads
  absl::StatusOr<std::unique_ptr<plume::services::PlumeServer>> server =
      plume::services::PlumeServer::Start(config);
  if (!server.ok()) return Fail(server.status());
  if (!(*server)->metrics_address().empty()) {
    std::cerr << "metrics on http://" << (*server)->metrics_address() << "/metrics" << std::endl;
  }

  std::mutex mu;
  std::condition_variable signalled;
  int signals = 0;
  std::thread([&] {
    while (true) {
      int signal = 0;
      if (sigwait(&stop_signals, &signal) != 0) continue;
      std::lock_guard<std::mutex> lock(mu);
      if (++signals >= 2) (*server)->AbortNow();
      signalled.notify_all();
    }
  }).detach();  // blocked in sigwait until the process exits

  std::cerr << "loading " << config.checkpoint << std::endl;
  const absl::Time load_start = absl::Now();
  if (absl::Status loaded = (*server)->LoadModel(); !loaded.ok()) return Fail(loaded);
  std::cerr << "ready in " << absl::FormatDuration(absl::Trunc(absl::Now() - load_start, absl::Milliseconds(1)))
            << std::endl;
  std::cout << "listening on " << (*server)->address() << std::endl;

  {
    std::unique_lock<std::mutex> lock(mu);
    signalled.wait(lock, [&] { return signals > 0; });
  }
  std::cerr << "draining: new calls are refused, streams in flight have "
            << config.drain_grace_seconds << " s to finish" << std::endl;
  const int aborted = (*server)->Drain(absl::Seconds(config.drain_grace_seconds));
  std::cerr << "stopped" << (aborted > 0 ? absl::StrCat(" (", aborted, " streams cut off)") : "")
            << std::endl;
  server->reset();
  return 0;
}
