// plume.v1.CompletionService on gRPC's callback API. RPC threads only check, encode and hand
// requests to the engine; the engine's thread runs the model (see CompletionStream).
//
// Lifecycle: kLoading (every call UNAVAILABLE) -> SetModel -> kServing -> StartDraining
// (new calls UNAVAILABLE, streams in flight continue) -> WaitIdle / AbortAll.
// Every call first checks the API key when keys are configured (UNAUTHENTICATED).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "plume/v1/completion_service.grpc.pb.h"
#include "services/api_keys.h"
#include "services/completion_stream.h"
#include "services/request_log.h"
#include "services/served_model.h"
#include "services/server_metrics.h"

namespace plume::services {

struct CompletionServiceOptions {
  int max_prompt_tokens = 0;       // 0 = the context minus one
  int max_new_tokens = 1024;       // largest max_tokens
  int default_max_tokens = 128;    // max_tokens when unset
  int max_request_bytes = 1 << 20;  // reported in GetModelInfo (gRPC enforces it)
  std::optional<ApiKeys> api_keys;  // set = calls need `authorization: Bearer <key>`
};

class CompletionServiceImpl final : public v1::CompletionService::CallbackService {
 public:
  CompletionServiceImpl(CompletionServiceOptions options, ServerMetrics* metrics,
                        RequestLog* log);
  ~CompletionServiceImpl() override;

  // Starts serving `model` (which must outlive the service's calls).
  void SetModel(ServedModel* model);
  // New calls fail with UNAVAILABLE from now on; streams in flight continue.
  void StartDraining();
  // Waits until no Complete call is in flight, at most until `deadline`; true when idle.
  bool WaitIdle(absl::Time deadline);
  // Ends every Complete call in flight with UNAVAILABLE (their engine requests are cancelled).
  void AbortAll();
  int active_streams() const;

  grpc::ServerWriteReactor<v1::CompleteResponse>* Complete(
      grpc::CallbackServerContext* context, const v1::CompleteRequest* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const v1::DetokenizeRequest* request,
                                       v1::DetokenizeResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::GetModelInfoResponse* response) override;

 private:
  enum class State { kLoading, kServing, kDraining };
  // OK, or why the call may not proceed (UNAUTHENTICATED, UNAVAILABLE).
  grpc::Status Admit(grpc::CallbackServerContext* context) const;
  std::string NextRequestId();
  RequestLimits Limits() const;
  // Finishes a unary call: status, metrics and the log line.
  grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                        absl::string_view method, absl::Time start,
                                        const grpc::Status& status, RequestLogEntry entry);
  void StreamDone(CompletionStream* stream);

  const CompletionServiceOptions options_;
  ServerMetrics* const metrics_;
  RequestLog* const log_;
  StreamEnvironment env_;
  std::atomic<State> state_{State::kLoading};
  std::atomic<ServedModel*> model_{nullptr};
  std::atomic<uint64_t> next_id_{1};

  mutable std::mutex mu_;
  std::condition_variable idle_;
  absl::flat_hash_set<CompletionStream*> streams_;  // calls between Create and OnDone
};

}  // namespace plume::services
