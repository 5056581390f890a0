#include "services/completion_stream.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "inference/engine.h"
#include "services/grpc_status.h"

namespace plume::services {
namespace {

v1::FinishReason ToProto(inference::FinishReason reason) {
  switch (reason) {
    case inference::FinishReason::kStopString: return v1::FINISH_REASON_STOP_STRING;
    case inference::FinishReason::kStopToken: return v1::FINISH_REASON_STOP_TOKEN;
    case inference::FinishReason::kEos: return v1::FINISH_REASON_EOS;
    case inference::FinishReason::kLength: return v1::FINISH_REASON_LENGTH;
    default: return v1::FINISH_REASON_UNSPECIFIED;
  }
}

void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

}  // namespace

std::shared_ptr<CompletionStream> CompletionStream::Create(grpc::CallbackServerContext* context,
                                                           const StreamEnvironment* env,
                                                           std::string id) {
  std::shared_ptr<CompletionStream> stream(new CompletionStream(context, env, std::move(id)));
  stream->self_ = stream;
  env->metrics->active_streams->Add(1);
  return stream;
}

CompletionStream::CompletionStream(grpc::CallbackServerContext* context,
                                   const StreamEnvironment* env, std::string id)
    : env_(env),
      peer_(context->peer()),
      accepted_(absl::Now()),
      deadline_(context->deadline()),
      id_(std::move(id)) {}

void CompletionStream::Reject(const grpc::Status& status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    early_status_ = status;
  }
  Pump();
}

void CompletionStream::Submit(CompletionPlan plan, inference::Engine* engine,
                              const std::string& prompt_text) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    engine_ = engine;
    prompt_tokens_ = static_cast<int>(plan.request.prompt.size());
    truncated_prompt_tokens_ = plan.truncated_prompt_tokens;
    if (env_->log->log_prompts()) logged_prompt_ = prompt_text;
    // The first message names the request (and carries the prompt with echo).
    pending_.set_request_id(id_);
    if (plan.echo) {
      pending_.set_text(std::move(plan.echo_text));
      pending_.mutable_prompt_token_ids()->Add(plan.request.prompt.begin(),
                                               plan.request.prompt.end());
      has_pending_ = true;
    }
  }
  // The engine may call OnDelta/OnFinish before Submit returns; they only need the lock.
  absl::StatusOr<inference::RequestId> id =
      engine->Submit(std::move(plan.request), shared_from_this());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (id.ok()) {
      engine_id_ = *id;
    } else {
      early_status_ = ToGrpcStatus(id.status());
      pending_.Clear();
      has_pending_ = false;
    }
  }
  if (id.ok()) {
    // OnCancel may have come while submitting (a gRPC thread could not cancel an unknown id).
    bool cancel;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancel = cancelled_ || aborted_;
    }
    if (cancel) CancelEngine();
  }
  Pump();
}

void CompletionStream::Abort() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    aborted_ = true;
  }
  CancelEngine();
  Pump();
}

void CompletionStream::CancelEngine() {
  inference::Engine* engine;
  inference::RequestId id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!engine_id_.has_value() || result_.has_value()) return;
    engine = engine_;
    id = *engine_id_;
  }
  // NOT_FOUND: it finished meanwhile; its OnFinish drives the end of the call.
  engine->Cancel(id).IgnoreError();
}

void CompletionStream::AppendLogprobs(const inference::Delta& delta,
                                      v1::CompleteResponse* message) const {
  const inference::Vocabulary& vocab = engine_->vocab();
  auto fill = [&vocab](const inference::TokenLogprob& from, v1::TokenLogprob* to) {
    to->set_token_id(from.token);
    to->set_logprob(from.logprob);
    to->set_token_bytes(std::string(vocab.TokenBytes(from.token)));
  };
  for (const inference::LogprobEntry& entry : delta.logprobs) {
    v1::GeneratedTokenLogprobs* out = message->add_logprobs();
    fill(entry.chosen, out->mutable_token());
    for (const inference::TokenLogprob& top : entry.top) fill(top, out->add_top());
  }
}

void CompletionStream::OnDelta(const inference::Delta& delta) {
  const absl::Time now = absl::Now();
  const int tokens = static_cast<int>(delta.token_ids.size());
  // Every token the engine hands over is counted, also those a cancelled call drops, so that
  // the counter adds up with the engine's and with the requests' usage.
  env_->metrics->streamed_tokens->Increment(tokens);
  bool start_write;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_ || finish_started_) return;
    pending_.mutable_text()->append(delta.text);
    pending_.mutable_token_ids()->Add(delta.token_ids.begin(), delta.token_ids.end());
    if (!delta.logprobs.empty()) AppendLogprobs(delta, &pending_);
    has_pending_ = true;
    if (tokens > 0) {
      if (!first_token_.has_value()) {
        first_token_ = now;
        env_->metrics->time_to_first_token->Observe(absl::ToDoubleSeconds(now - accepted_));
      } else {
        env_->metrics->inter_token_latency->Observe(absl::ToDoubleSeconds(now - *last_token_));
      }
      last_token_ = now;
    }
    start_write = !write_in_flight_;
  }
  if (start_write) Pump();
}

void CompletionStream::OnFinish(const inference::Result& result) {
  env_->metrics->completion_tokens->Increment(result.usage.completion_tokens);
  env_->metrics->prompt_tokens->Increment(result.usage.prompt_tokens);
  {
    std::lock_guard<std::mutex> lock(mu_);
    result_ = result;
  }
  Pump();
}

void CompletionStream::OnWriteDone(bool ok) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    write_in_flight_ = false;
    if (!ok) cancelled_ = true;  // the stream is broken: the client is gone
  }
  if (!ok) CancelEngine();
  Pump();
}

void CompletionStream::OnCancel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    grpc_cancelled_ = true;
  }
  CancelEngine();
  Pump();
}

void CompletionStream::Pump() {
  enum class Action { kNone, kWrite, kWriteAndFinish, kFinish } action = Action::kNone;
  grpc::Status status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finish_started_ || write_in_flight_) return;
    if (early_status_.has_value()) {
      action = Action::kFinish;
      status = *early_status_;
    } else if (result_.has_value()) {
      const inference::Result& r = *result_;
      if (cancelled_) {
        status = grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the call");
      } else if (aborted_ || (r.finish_reason == inference::FinishReason::kCancelled)) {
        status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "the server shut down before the completion finished");
      } else if (r.finish_reason == inference::FinishReason::kError) {
        status = ToGrpcStatus(r.status.ok() ? absl::InternalError("generation failed") : r.status);
      }
      if (cancelled_) {
        action = Action::kFinish;  // nobody is listening
      } else if (status.ok()) {
        pending_.set_finish_reason(ToProto(r.finish_reason));
        if (r.finish_reason == inference::FinishReason::kStopString) {
          pending_.set_stop_string(r.stop_string);
        }
        v1::Usage* usage = pending_.mutable_usage();
        usage->set_prompt_tokens(r.usage.prompt_tokens);
        usage->set_completion_tokens(r.usage.completion_tokens);
        usage->set_total_tokens(r.usage.prompt_tokens + r.usage.completion_tokens);
        usage->set_truncated_prompt_tokens(truncated_prompt_tokens_);
        v1::Timings* timings = pending_.mutable_timings();
        SetDuration(r.timings.queue, timings->mutable_queue());
        SetDuration(r.timings.time_to_first_token, timings->mutable_time_to_first_token());
        SetDuration(r.timings.total, timings->mutable_total());
        has_pending_ = true;
        action = Action::kWriteAndFinish;
      } else {
        // An error after streaming began: what was generated is still delivered.
        action = has_pending_ ? Action::kWriteAndFinish : Action::kFinish;
      }
    } else if (aborted_ && !engine_id_.has_value()) {
      action = Action::kFinish;  // never reached the engine
      status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down");
    } else if (has_pending_ && !cancelled_) {
      action = Action::kWrite;
    }
    if (action == Action::kWrite || action == Action::kWriteAndFinish) {
      in_flight_.Swap(&pending_);
      pending_.Clear();
      has_pending_ = false;
    }
    if (action == Action::kWrite) write_in_flight_ = true;
    if (action == Action::kWriteAndFinish || action == Action::kFinish) {
      finish_started_ = true;
      final_status_ = status;
    }
  }
  switch (action) {
    case Action::kNone:
      break;
    case Action::kWrite:
      StartWrite(&in_flight_);
      break;
    case Action::kWriteAndFinish:
      StartWriteAndFinish(&in_flight_, grpc::WriteOptions(), status);
      break;
    case Action::kFinish:
      Finish(status);
      break;
  }
}

void CompletionStream::OnDone() {
  RequestLogEntry entry;
  {
    std::lock_guard<std::mutex> lock(mu_);
    entry.code = final_status_.error_code();
    entry.error = final_status_.error_message();
    if (grpc_cancelled_) {
      // The client's view: its deadline passed, or it cancelled/disconnected. The server's copy
      // of the deadline counts from when the call arrived, so it lags the client's, whose timer
      // cancels the call first: a cancellation this close to the deadline is the deadline.
      constexpr auto kDeadlineLag = std::chrono::milliseconds(100);
      const bool expired = deadline_ != std::chrono::system_clock::time_point::max() &&
                           std::chrono::system_clock::now() + kDeadlineLag >= deadline_;
      entry.code = expired ? grpc::StatusCode::DEADLINE_EXCEEDED : grpc::StatusCode::CANCELLED;
      entry.error = expired ? "deadline exceeded" : "cancelled by the client";
    }
    entry.id = id_;
    entry.method = "Complete";
    entry.peer = peer_;
    entry.prompt = logged_prompt_;
    entry.total = absl::Now() - accepted_;
    if (first_token_.has_value()) entry.time_to_first_token = *first_token_ - accepted_;
    if (result_.has_value()) {
      entry.prompt_tokens = result_->usage.prompt_tokens;
      entry.completion_tokens = result_->usage.completion_tokens;
      entry.truncated_prompt_tokens = truncated_prompt_tokens_;
      entry.finish = std::string(inference::FinishReasonName(result_->finish_reason));
      entry.queue = result_->timings.queue;
    }
  }
  env_->metrics->CountRequest("Complete", entry.code);
  env_->metrics->request_duration->Observe(absl::ToDoubleSeconds(entry.total));
  env_->metrics->active_streams->Add(-1);
  env_->log->Write(entry);
  env_->on_done(this);
  self_.reset();  // may delete this (unless the engine still holds the sink): nothing after it
}

}  // namespace plume::services
