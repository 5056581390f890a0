// The metrics plume-serve exports (names and meaning in docs/serving.md), registered in one
// MetricsRegistry. Engine gauges are read from Engine::Stats() at scrape time.
#pragma once

#include <atomic>

#include <grpcpp/support/status.h>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/metrics.h"

namespace plume::inference {
class Engine;
}

namespace plume::services {

class ServerMetrics {
 public:
  explicit ServerMetrics(MetricsRegistry* registry);

  // plume_requests_total{method, code}: every finished RPC of plume.v1.CompletionService.
  void CountRequest(absl::string_view method, grpc::StatusCode code);
  // Engine statistics (queue depth, running sequences, batch size, tokens) come from `engine`
  // from now on; null = report zeros. The engine must outlive the scrapes or be unset first.
  void WatchEngine(const inference::Engine* engine);

  Histogram* time_to_first_token;  // seconds, request accepted -> first token streamed
  Histogram* inter_token_latency;  // seconds between consecutive streamed tokens of a request
  Histogram* request_duration;     // seconds, Complete accepted -> finished
  Gauge* active_streams;           // Complete calls in flight (accepted, not yet done)
  Counter* streamed_tokens;        // completion tokens the engine handed to streams
  Counter* completion_tokens;      // Usage.completion_tokens of finished completions
  Counter* prompt_tokens;          // Usage.prompt_tokens of finished completions

 private:
  MetricsRegistry* registry_;
  std::atomic<const inference::Engine*> engine_{nullptr};
};

}  // namespace plume::services
