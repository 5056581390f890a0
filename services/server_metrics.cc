#include "services/server_metrics.h"

#include <string>

#include "inference/engine.h"
#include "services/grpc_status.h"

namespace plume::services {
namespace {
constexpr char kRequestsHelp[] = "Finished RPCs of plume.v1.CompletionService by method and code";
}  // namespace

ServerMetrics::ServerMetrics(MetricsRegistry* registry) : registry_(registry) {
  const std::vector<double> latency = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                       0.25,  0.5,    1,     2.5,  5,     10,   30};
  time_to_first_token = registry->AddHistogram(
      "plume_time_to_first_token_seconds",
      "Time from accepting a Complete call to streaming its first token", latency);
  inter_token_latency = registry->AddHistogram(
      "plume_inter_token_latency_seconds",
      "Time between consecutive tokens of a stream, as the engine hands them to the stream",
      latency);
  request_duration = registry->AddHistogram(
      "plume_request_duration_seconds", "Time from accepting a Complete call to its end",
      {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300});
  active_streams =
      registry->AddGauge("plume_active_streams", "Complete calls in flight (accepted, not done)");
  streamed_tokens = registry->AddCounter("plume_streamed_tokens_total",
                                         "Completion tokens handed to Complete streams");
  completion_tokens = registry->AddCounter(
      "plume_completion_tokens_total", "Completion tokens (usage) of finished Complete calls");
  prompt_tokens = registry->AddCounter("plume_prompt_tokens_total",
                                       "Prompt tokens (usage) of finished Complete calls");
  // Registered up front so that dashboards see zeros rather than gaps.
  for (const char* method : {"Complete", "Tokenize", "Detokenize", "GetModelInfo"}) {
    registry->AddCounter("plume_requests_total", kRequestsHelp,
                         {{"method", method}, {"code", "OK"}});
  }
  auto stat = [this](auto field) {
    return [this, field]() -> double {
      const inference::Engine* engine = engine_.load(std::memory_order_acquire);
      return engine == nullptr ? 0.0 : static_cast<double>(engine->Stats().*field);
    };
  };
  using inference::EngineStats;
  registry->AddGaugeCallback("plume_queue_depth", "Requests waiting for a decoding slot",
                             stat(&EngineStats::waiting));
  registry->AddGaugeCallback("plume_running_sequences", "Sequences holding a decoding slot",
                             stat(&EngineStats::running));
  registry->AddGaugeCallback("plume_batch_size", "Sequences in the engine's most recent step",
                             stat(&EngineStats::last_step_sequences));
  registry->AddGaugeCallback("plume_batch_tokens", "Tokens computed by the most recent step",
                             stat(&EngineStats::last_step_tokens));
  registry->AddCounterCallback("plume_generated_tokens_total", "Tokens sampled by the engine",
                               stat(&EngineStats::generated_tokens));
  registry->AddCounterCallback("plume_prefilled_tokens_total", "Prompt tokens run by the engine",
                               stat(&EngineStats::prompt_tokens));
  registry->AddCounterCallback("plume_engine_steps_total", "Forward steps run by the engine",
                               stat(&EngineStats::steps));
  registry->AddCounterCallback("plume_engine_rejected_total",
                               "Submissions refused because the queue was full",
                               stat(&EngineStats::rejected));
}

void ServerMetrics::CountRequest(absl::string_view method, grpc::StatusCode code) {
  registry_
      ->AddCounter("plume_requests_total", kRequestsHelp,
                   {{"method", std::string(method)}, {"code", std::string(StatusCodeName(code))}})
      ->Increment();
}

void ServerMetrics::WatchEngine(const inference::Engine* engine) {
  engine_.store(engine, std::memory_order_release);
}

}  // namespace plume::services
