// plume-serve's process-level object: the gRPC server (CompletionService, the standard
// grpc.health.v1 service, reflection), the /metrics endpoint and the served model.
//
//   auto server = PlumeServer::Start(config);   // ports bound; health NOT_SERVING
//   server->LoadModel();                        // load, warm up; health SERVING
//   ... SIGTERM ...
//   server->Drain(grace);                       // NOT_SERVING, refuse new calls, finish streams
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/completion_service.h"
#include "services/metrics.h"
#include "services/metrics_http_server.h"
#include "services/request_log.h"
#include "services/serve_config.h"
#include "services/served_model.h"
#include "services/server_metrics.h"

namespace plume::services {

class PlumeServer {
 public:
  // Validates `config`, reads TLS and API-key files and binds the ports. The health service
  // reports NOT_SERVING and CompletionService calls fail with UNAVAILABLE until LoadModel.
  static absl::StatusOr<std::unique_ptr<PlumeServer>> Start(const ServeConfig& config);
  ~PlumeServer();

  // Loads the checkpoint, starts the engine, runs one warm-up request, then reports SERVING.
  absl::Status LoadModel();

  // Graceful shutdown: health NOT_SERVING, new calls UNAVAILABLE, in-flight streams finish
  // (at most `grace`, or until AbortNow), the rest end with UNAVAILABLE; then the gRPC server
  // stops. Returns how many streams had to be aborted.
  int Drain(absl::Duration grace);
  // Makes a Drain in progress stop waiting (a second signal). Async-signal-unsafe; call from a
  // normal thread.
  void AbortNow() { abort_now_.store(true); }

  const std::string& address() const { return address_; }  // HOST:PORT bound
  std::string metrics_address() const { return http_ ? http_->address() : ""; }

 private:
  explicit PlumeServer(const ServeConfig& config);

  const ServeConfig config_;
  MetricsRegistry registry_;
  ServerMetrics metrics_{&registry_};
  RequestLog log_;
  std::unique_ptr<ServedModel> model_;
  std::unique_ptr<MetricsHttpServer> http_;
  std::unique_ptr<CompletionServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::atomic<bool> abort_now_{false};
};

}  // namespace plume::services
