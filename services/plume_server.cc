#include "services/plume_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/status_macros.h"

namespace plume::services {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view key) {
  absl::StatusOr<std::string> text = core::ReadFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": ", text.status().message()));
  }
  if (!absl::StrContains(*text, "-----BEGIN ")) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": ", path, " is not a PEM file"));
  }
  return text;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServeConfig& config) {
  if (config.tls_cert.empty()) return grpc::InsecureServerCredentials();
  ASSIGN_OR_RETURN(std::string cert, ReadPem(config.tls_cert, "tls.cert"));
  ASSIGN_OR_RETURN(std::string key, ReadPem(config.tls_key, "tls.key"));
  grpc::SslServerCredentialsOptions options(
      config.tls_client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                   : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!config.tls_client_ca.empty()) {
    ASSIGN_OR_RETURN(options.pem_root_certs, ReadPem(config.tls_client_ca, "tls.client_ca"));
  }
  options.pem_key_cert_pairs.push_back({key, cert});
  return grpc::SslServerCredentials(options);
}

}  // namespace

PlumeServer::PlumeServer(const ServeConfig& config)
    : config_(config), log_(stderr, config.log_prompts) {}

PlumeServer::~PlumeServer() {
  // No call is in flight after Shutdown (it waits for every reactor's OnDone).
  if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  server_.reset();
  http_.reset();  // no scrape reads the engine any more
  metrics_.WatchEngine(nullptr);
  // The engine finishes whatever it still holds by calling the sinks, which use the service's
  // stream environment: the engine goes first.
  model_.reset();
  service_.reset();
}

absl::StatusOr<std::unique_ptr<PlumeServer>> PlumeServer::Start(const ServeConfig& config) {
  RETURN_IF_ERROR(config.Validate());
  std::unique_ptr<PlumeServer> server(new PlumeServer(config));
  CompletionServiceOptions options;
  options.max_prompt_tokens = config.max_prompt_tokens;
  options.max_new_tokens = config.max_new_tokens;
  options.default_max_tokens = config.ResolvedDefaultMaxTokens();
  options.max_request_bytes = config.max_request_bytes;
  if (!config.api_keys_file.empty()) {
    ASSIGN_OR_RETURN(options.api_keys, ApiKeys::FromFile(config.api_keys_file));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, Credentials(config));
  if (!config.metrics_listen.empty()) {
    ASSIGN_OR_RETURN(server->http_, MetricsHttpServer::Start(config.metrics_listen, &server->registry_));
  }
  server->service_ =
      std::make_unique<CompletionServiceImpl>(std::move(options), &server->metrics_, &server->log_);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.listen, credentials, &port);
  builder.RegisterService(server->service_.get());
  builder.SetMaxReceiveMessageSize(config.max_request_bytes);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", config.listen, " (address in use, or not an address of this host)"));
  }
  // Not serving until the model is loaded and warmed up. The service's own name is known to
  // health checks too (SetServingStatus(bool) later updates every known name).
  grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService();
  health->SetServingStatus(v1::CompletionService::service_full_name(), false);
  health->SetServingStatus(false);
  std::string host, ignored;
  int configured_port = 0;
  RETURN_IF_ERROR(SplitHostPort(config.listen, &host, &configured_port));
  server->address_ = absl::StrCat(absl::StrContains(host, ':') ? absl::StrCat("[", host, "]") : host,
                                  ":", port);
  return server;
}

absl::Status PlumeServer::LoadModel() {
  inference::EngineOptions options;
  options.max_sequences = config_.max_running;
  options.max_waiting = config_.max_waiting;
  options.max_step_tokens = config_.max_step_tokens;
  options.max_context = config_.max_context;
  options.bf16_weights = config_.weights == "bfloat16";
  options.threads = config_.threads > 0 ? config_.threads
                                        : static_cast<int>(std::thread::hardware_concurrency());
  ASSIGN_OR_RETURN(model_, LoadServedModel(config_.checkpoint, config_.model_name, options));
  RETURN_IF_ERROR(WarmUp(*model_->engine, absl::Minutes(5)));
  metrics_.WatchEngine(model_->engine.get());
  service_->SetModel(model_.get());
  server_->GetHealthCheckService()->SetServingStatus(true);
  return absl::OkStatus();
}

int PlumeServer::Drain(absl::Duration grace) {
  server_->GetHealthCheckService()->SetServingStatus(false);
  service_->StartDraining();
  const absl::Time deadline = absl::Now() + grace;
  bool idle = false;
  while (!idle && !abort_now_.load() && absl::Now() < deadline) {
    idle = service_->WaitIdle(std::min(deadline, absl::Now() + absl::Milliseconds(100)));
  }
  const int aborted = idle ? 0 : service_->active_streams();
  if (!idle) {
    service_->AbortAll();
    // The engine confirms within a step; a client that stopped reading is cut off by Shutdown.
    service_->WaitIdle(absl::Now() + absl::Seconds(5));
  }
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_->Wait();
  return aborted;
}

}  // namespace plume::services
