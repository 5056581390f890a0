// One Complete call: the gRPC server-streaming reactor and the engine's TokenSink in one object.
//
// The engine's scheduler thread hands deltas to OnDelta; they are merged into one pending
// message, and a write starts whenever none is in flight (exactly one write in flight; a slow
// reader gets fewer, larger messages and never blocks the engine). The engine's OnFinish makes
// the last message (finish reason, usage, timings) and the call is finished exactly once, with
// StartWriteAndFinish, or Finish when nothing is left to send. OnCancel (client cancel, deadline,
// disconnect) and failed writes cancel the engine request, which leaves the batch before the
// next step; the call then finishes once the engine confirms. The object owns itself until
// OnDone and is shared with the engine (which may drop its reference later), so neither side
// can touch freed memory. Reactor operations are never started while holding the lock: gRPC may
// run reactions inline.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "inference/request.h"
#include "plume/v1/completion.pb.h"
#include "services/request_builder.h"
#include "services/request_log.h"
#include "services/server_metrics.h"

namespace plume::inference {
class Engine;
class Vocabulary;
}  // namespace plume::inference

namespace plume::services {

class CompletionStream;

// What streams share; outlives every stream's OnDone.
struct StreamEnvironment {
  ServerMetrics* metrics = nullptr;
  RequestLog* log = nullptr;
  std::function<void(CompletionStream*)> on_done;  // called from OnDone, before the stream ends
};

class CompletionStream final : public grpc::ServerWriteReactor<v1::CompleteResponse>,
                               public inference::TokenSink,
                               public std::enable_shared_from_this<CompletionStream> {
 public:
  // A stream for the call `context`; `id` names the request in responses and logs.
  static std::shared_ptr<CompletionStream> Create(grpc::CallbackServerContext* context,
                                                  const StreamEnvironment* env, std::string id);

  // Ends the call with `status` without running anything (bad request, unavailable, ...).
  void Reject(const grpc::Status& status);
  // Submits `plan` to `engine`: streaming starts as tokens come; a refused submission ends the
  // call with the engine's status (RESOURCE_EXHAUSTED when the queue is full).
  // `prompt_text` is logged only when the log is configured for prompts.
  void Submit(CompletionPlan plan, inference::Engine* engine, const std::string& prompt_text);
  // Server shutdown after the grace period: cancels the request and ends the call with
  // UNAVAILABLE.
  void Abort();

  const std::string& id() const { return id_; }

  // inference::TokenSink (engine thread).
  void OnDelta(const inference::Delta& delta) override;
  void OnFinish(const inference::Result& result) override;
  // grpc::ServerWriteReactor (gRPC threads).
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  CompletionStream(grpc::CallbackServerContext* context, const StreamEnvironment* env,
                   std::string id);
  // Starts the next write or the finish when one is due and nothing is in flight.
  void Pump();
  // Asks the engine to drop the request (no-op when it was never submitted or has finished).
  void CancelEngine();
  void AppendLogprobs(const inference::Delta& delta, v1::CompleteResponse* message) const;

  const StreamEnvironment* const env_;
  const std::string peer_;
  const absl::Time accepted_;
  const std::chrono::system_clock::time_point deadline_;
  std::shared_ptr<CompletionStream> self_;  // keeps the reactor alive until OnDone

  const std::string id_;

  std::mutex mu_;  // guards everything below
  inference::Engine* engine_ = nullptr;
  std::optional<inference::RequestId> engine_id_;
  std::optional<std::string> logged_prompt_;
  int prompt_tokens_ = 0;
  int truncated_prompt_tokens_ = 0;
  v1::CompleteResponse pending_;  // merged deltas not yet written
  bool has_pending_ = false;
  v1::CompleteResponse in_flight_;  // the message gRPC is writing
  bool write_in_flight_ = false;
  std::optional<inference::Result> result_;  // the engine's OnFinish
  std::optional<grpc::Status> early_status_;  // ended before/without the engine
  bool cancelled_ = false;    // client gone (OnCancel or a failed write): no more writes
  bool grpc_cancelled_ = false;  // OnCancel ran
  bool aborted_ = false;      // Abort(): server shutting down
  bool finish_started_ = false;
  grpc::Status final_status_;
  std::optional<absl::Time> first_token_, last_token_;
};

}  // namespace plume::services
