#include "services/completion_service.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "inference/engine.h"
#include "inference/sampling_params.h"
#include "services/grpc_status.h"
#include "services/request_builder.h"

namespace plume::services {

CompletionServiceImpl::CompletionServiceImpl(CompletionServiceOptions options,
                                             ServerMetrics* metrics, RequestLog* log)
    : options_(std::move(options)), metrics_(metrics), log_(log) {
  env_.metrics = metrics_;
  env_.log = log_;
  env_.on_done = [this](CompletionStream* stream) { StreamDone(stream); };
}

CompletionServiceImpl::~CompletionServiceImpl() = default;

void CompletionServiceImpl::SetModel(ServedModel* model) {
  model_.store(model, std::memory_order_release);
  State expected = State::kLoading;
  state_.compare_exchange_strong(expected, State::kServing);
}

void CompletionServiceImpl::StartDraining() { state_.store(State::kDraining); }

bool CompletionServiceImpl::WaitIdle(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!streams_.empty()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    idle_.wait_for(lock, absl::ToChronoMilliseconds(std::min(left, absl::Milliseconds(100))));
  }
  return true;
}

void CompletionServiceImpl::AbortAll() {
  std::vector<std::shared_ptr<CompletionStream>> streams;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (CompletionStream* stream : streams_) streams.push_back(stream->shared_from_this());
  }
  for (auto& stream : streams) stream->Abort();
}

int CompletionServiceImpl::active_streams() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(streams_.size());
}

void CompletionServiceImpl::StreamDone(CompletionStream* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_.erase(stream);
  if (streams_.empty()) idle_.notify_all();
}

std::string CompletionServiceImpl::NextRequestId() {
  return absl::StrCat("r-", next_id_.fetch_add(1, std::memory_order_relaxed));
}

grpc::Status CompletionServiceImpl::Admit(grpc::CallbackServerContext* context) const {
  if (options_.api_keys.has_value()) {
    const auto& metadata = context->client_metadata();
    auto it = metadata.find("authorization");
    const absl::string_view value =
        it == metadata.end() ? absl::string_view() : absl::string_view(it->second.data(), it->second.size());
    if (absl::Status s = options_.api_keys->Check(value); !s.ok()) return ToGrpcStatus(s);
  }
  switch (state_.load()) {
    case State::kLoading:
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the model is still loading; retry when the health check says SERVING");
    case State::kDraining:
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the server is shutting down and accepts no new calls");
    case State::kServing:
      break;
  }
  return grpc::Status::OK;
}

RequestLimits CompletionServiceImpl::Limits() const {
  const ServedModel* model = model_.load(std::memory_order_acquire);
  RequestLimits limits;
  limits.context = model->engine->options().max_context;
  limits.max_prompt_tokens = options_.max_prompt_tokens > 0
                                 ? std::min(options_.max_prompt_tokens, limits.context - 1)
                                 : limits.context - 1;
  limits.max_new_tokens = options_.max_new_tokens;
  limits.default_max_tokens = options_.default_max_tokens;
  limits.vocab_size = model->engine->vocab().size();
  return limits;
}

grpc::ServerWriteReactor<v1::CompleteResponse>* CompletionServiceImpl::Complete(
    grpc::CallbackServerContext* context, const v1::CompleteRequest* request) {
  // An invalid request_id is rejected below; the log line then uses the server's id.
  std::shared_ptr<CompletionStream> stream = CompletionStream::Create(
      context, &env_,
      IsValidRequestId(request->request_id()) ? request->request_id() : NextRequestId());
  {
    std::lock_guard<std::mutex> lock(mu_);
    streams_.insert(stream.get());
  }
  if (grpc::Status admitted = Admit(context); !admitted.ok()) {
    stream->Reject(admitted);
    return stream.get();
  }
  ServedModel* model = model_.load(std::memory_order_acquire);
  absl::StatusOr<CompletionPlan> plan =
      BuildCompletionPlan(*request, model->tokenizer, Limits());
  if (!plan.ok()) {
    stream->Reject(ToGrpcStatus(plan.status()));
    return stream.get();
  }
  std::string prompt_text;
  if (log_->log_prompts()) {
    prompt_text = request->has_token_ids() ? "<token ids>" : request->text();
  }
  stream->Submit(*std::move(plan), model->engine.get(), prompt_text);
  return stream.get();
}

grpc::ServerUnaryReactor* CompletionServiceImpl::FinishUnary(grpc::CallbackServerContext* context,
                                                             absl::string_view method,
                                                             absl::Time start,
                                                             const grpc::Status& status,
                                                             RequestLogEntry entry) {
  metrics_->CountRequest(method, status.error_code());
  entry.id = NextRequestId();
  entry.method = std::string(method);
  entry.peer = context->peer();
  entry.code = status.error_code();
  entry.error = status.error_message();
  entry.total = absl::Now() - start;
  log_->Write(entry);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

grpc::ServerUnaryReactor* CompletionServiceImpl::Tokenize(grpc::CallbackServerContext* context,
                                                          const v1::TokenizeRequest* request,
                                                          v1::TokenizeResponse* response) {
  const absl::Time start = absl::Now();
  RequestLogEntry entry;
  grpc::Status status = Admit(context);
  if (status.ok()) {
    if (log_->log_prompts()) entry.prompt = request->text();
    absl::StatusOr<std::vector<int32_t>> ids =
        EncodeText(model_.load()->tokenizer, request->text(), request->allow_special(), "text",
                   /*allow_empty=*/true);
    if (ids.ok()) {
      response->mutable_token_ids()->Add(ids->begin(), ids->end());
      entry.prompt_tokens = static_cast<int>(ids->size());
    } else {
      status = ToGrpcStatus(ids.status());
    }
  }
  return FinishUnary(context, "Tokenize", start, status, std::move(entry));
}

grpc::ServerUnaryReactor* CompletionServiceImpl::Detokenize(
    grpc::CallbackServerContext* context, const v1::DetokenizeRequest* request,
    v1::DetokenizeResponse* response) {
  const absl::Time start = absl::Now();
  RequestLogEntry entry;
  grpc::Status status = Admit(context);
  if (status.ok()) {
    const ServedModel* model = model_.load();
    const int vocab = model->engine->vocab().size();
    const auto& ids = request->token_ids();
    for (int i = 0; i < ids.size() && status.ok(); ++i) {
      if (ids[i] < 0 || ids[i] >= vocab) {
        status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              absl::StrCat("token_ids[", i, "]=", ids[i],
                                           " is outside the vocabulary [0, ", vocab, ")"));
      }
    }
    if (status.ok()) {
      absl::StatusOr<std::string> text =
          model->tokenizer.Decode(absl::MakeConstSpan(ids.data(), ids.size()));
      if (text.ok()) {
        response->set_text(*std::move(text));
        entry.completion_tokens = ids.size();
      } else {
        status = ToGrpcStatus(text.status());
      }
    }
  }
  return FinishUnary(context, "Detokenize", start, status, std::move(entry));
}

grpc::ServerUnaryReactor* CompletionServiceImpl::GetModelInfo(
    grpc::CallbackServerContext* context, const v1::GetModelInfoRequest* request,
    v1::GetModelInfoResponse* response) {
  const absl::Time start = absl::Now();
  grpc::Status status = Admit(context);
  if (status.ok()) {
    const ServedModel* model = model_.load();
    const inference::EngineOptions& engine = model->engine->options();
    const RequestLimits limits = Limits();
    response->set_name(model->name);
    response->set_checkpoint(model->checkpoint);
    response->set_context_length(engine.max_context);
    response->set_vocab_size(model->engine->vocab().size());
    response->set_parameter_count(model->config.NumParameters());
    response->set_num_layers(model->config.n_layer);
    response->set_num_heads(model->config.n_head);
    response->set_embedding_size(model->config.n_embd);
    response->set_eos_token_id(model->tokenizer.eos_id().value_or(-1));
    v1::ServerLimits* out = response->mutable_limits();
    out->set_max_prompt_tokens(limits.max_prompt_tokens);
    out->set_max_new_tokens(limits.max_new_tokens);
    out->set_default_max_tokens(limits.default_max_tokens);
    out->set_max_running_sequences(engine.max_sequences);
    out->set_max_waiting_requests(engine.max_waiting);
    out->set_max_request_bytes(options_.max_request_bytes);
    out->set_max_stop_strings(inference::kMaxStopStrings);
    out->set_max_stop_token_ids(inference::kMaxStopTokenIds);
    out->set_max_logit_bias(inference::kMaxLogitBias);
    out->set_max_top_logprobs(inference::kMaxTopLogprobs);
  }
  return FinishUnary(context, "GetModelInfo", start, status, {});
}

}  // namespace plume::services
