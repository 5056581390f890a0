#include "inference/engine.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/parallel.h"
#include "core/status_macros.h"

namespace plume::inference {

absl::string_view FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStopString:
      return "stop_string";
    case FinishReason::kStopToken:
      return "stop_token";
    case FinishReason::kEos:
      return "eos";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kError:
      return "error";
  }
  return "unknown";
}

absl::Status EngineOptions::Validate() const {
  auto bad = [](absl::string_view field, int value, absl::string_view rule) {
    return absl::InvalidArgumentError(
        absl::StrCat("engine options: ", field, "=", value, " must be ", rule));
  };
  if (max_sequences < 1 || max_sequences > 1024)
    return bad("max_sequences", max_sequences, "in [1, 1024]");
  if (max_context != 0 && max_context < 2) return bad("max_context", max_context, ">= 2 (or 0)");
  if (max_step_tokens < max_sequences) {
    return bad("max_step_tokens", max_step_tokens,
               absl::StrCat(">= max_sequences=", max_sequences));
  }
  if (max_step_tokens > (1 << 16)) return bad("max_step_tokens", max_step_tokens, "<= 65536");
  if (max_waiting < 0) return bad("max_waiting", max_waiting, ">= 0");
  if (threads < 0) return bad("threads", threads, ">= 0");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(std::shared_ptr<core::GptImpl> model,
                                                       Vocabulary vocab,
                                                       const EngineOptions& options) {
  if (model == nullptr) return absl::InvalidArgumentError("engine needs a model");
  RETURN_IF_ERROR(options.Validate());
  const core::GptConfig& config = model->config();
  EngineOptions resolved = options;
  if (resolved.max_context == 0) resolved.max_context = config.n_positions;
  if (resolved.max_context > config.n_positions) {
    return absl::InvalidArgumentError(
        absl::StrCat("engine options: max_context=", resolved.max_context,
                     " must be <= the model's n_positions=", config.n_positions));
  }
  if (vocab.size() > config.vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("vocabulary has ", vocab.size(),
                     " tokens, more than the model's vocab_size=", config.vocab_size));
  }
  // Allocating more than the machine has would not throw but get the process killed.
  const int64_t kv_bytes =
      KvCache::BytesNeeded(config, resolved.max_sequences, resolved.max_context);
  const int64_t available = static_cast<int64_t>(sysconf(_SC_AVPHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  if (available > 0 && kv_bytes > available) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the KV cache needs ", kv_bytes >> 20, " MiB (max_sequences=", resolved.max_sequences,
        " x max_context=", resolved.max_context, ") but only ", available >> 20,
        " MiB of memory are free; lower max_sequences or max_context"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<KvCache> cache,
                   KvCache::Create(*model, resolved.max_sequences, resolved.max_context));
  model->eval();
  try {
    model->PrepareInference(resolved.bf16_weights ? torch::kBFloat16 : torch::kFloat32);
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot prepare the inference weights: ", e.what()));
  }
  return std::unique_ptr<Engine>(
      new Engine(std::move(model), std::move(vocab), resolved, std::move(cache)));
}

Engine::Engine(std::shared_ptr<core::GptImpl> model, Vocabulary vocab, const EngineOptions& options,
               std::unique_ptr<KvCache> cache)
    : model_(std::move(model)),
      vocab_(std::move(vocab)),
      options_(options),
      cache_(std::move(cache)),
      scheduler_({options.max_sequences, options.max_step_tokens}, cache_->slots()),
      seeds_(std::random_device{}()) {
  // The model runs on the scheduler thread from now on: the caller's idle OpenMP workers would
  // make libgomp's workers sleep between the step's many short parallel regions.
  core::ReleaseThreadPool();
  thread_ = std::thread([this] { Loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

absl::StatusOr<RequestId> Engine::Submit(Request request, std::shared_ptr<TokenSink> sink) {
  if (sink == nullptr) return absl::InvalidArgumentError("sink must not be null");
  const SamplingParams& params = request.params;
  RETURN_IF_ERROR(params.Validate());
  RETURN_IF_ERROR(params.ValidateTokenIds(vocab_.size()));
  std::vector<int32_t>& prompt = request.prompt;
  if (prompt.empty()) return absl::InvalidArgumentError("prompt must not be empty");
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= vocab_.size()) {
      return absl::InvalidArgumentError(absl::StrCat("prompt token ", prompt[i], " at position ", i,
                                                     " is outside the vocabulary [0, ",
                                                     vocab_.size(), ")"));
    }
  }
  const int64_t context = options_.max_context;
  const int64_t length = static_cast<int64_t>(prompt.size());
  int truncated = 0;
  if (request.truncate_prompt) {
    const int64_t keep = std::max<int64_t>(1, context - params.max_tokens);
    if (length > keep) {
      truncated = static_cast<int>(length - keep);
      prompt.erase(prompt.begin(), prompt.begin() + truncated);
    }
  } else if (length >= context) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt has ", length, " tokens but the context holds ", context,
        " (prompt plus at least one completion token); shorten it or set truncate_prompt"));
  }

  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return absl::UnavailableError("engine is shutting down");
  if (running_ + waiting_ >= options_.max_sequences + options_.max_waiting) {
    ++stats_.rejected;
    return absl::ResourceExhaustedError(
        absl::StrCat("engine is full: ", running_, " requests running and ", waiting_,
                     " waiting (max_waiting=", options_.max_waiting, "); retry later"));
  }
  const RequestId id = next_id_++;
  const uint64_t seed = params.seed.has_value() ? *params.seed : seeds_();
  auto sequence =
      std::make_unique<Sequence>(id, std::move(prompt), params, vocab_, seed, std::move(sink));
  sequence->truncated_prompt_tokens = truncated;
  sequence->submitted = absl::Now();
  inbox_.push_back(std::move(sequence));
  live_.insert(id);
  ++waiting_;
  wake_.notify_one();
  return id;
}

absl::Status Engine::Cancel(RequestId id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!live_.contains(id)) {
    return absl::NotFoundError(
        absl::StrCat("request ", id, " is not running (finished or unknown)"));
  }
  cancels_.push_back(id);
  wake_.notify_one();
  return absl::OkStatus();
}

EngineStats Engine::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  EngineStats stats = stats_;
  stats.waiting = waiting_;
  stats.running = running_;
  return stats;
}

void Engine::Loop() {
  c10::InferenceMode inference_mode;  // thread-local: no autograd bookkeeping on this thread
  if (options_.threads > 0) at::set_num_threads(options_.threads);
  while (true) {
    std::vector<std::unique_ptr<Sequence>> arrived;
    std::vector<RequestId> cancels;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] {
        return stopping_ || !inbox_.empty() || !cancels_.empty() || scheduler_.has_work();
      });
      if (stopping_) break;
      arrived.swap(inbox_);
      cancels.swap(cancels_);
    }
    for (auto& sequence : arrived) scheduler_.Enqueue(std::move(sequence));
    for (RequestId id : cancels) {
      std::unique_ptr<Sequence> sequence = scheduler_.Remove(id);
      if (sequence != nullptr)
        Finish(std::move(sequence), FinishReason::kCancelled, absl::OkStatus());
    }
    int admitted = 0;
    const std::vector<ScheduledChunk> chunks = scheduler_.Schedule(absl::Now(), &admitted);
    if (admitted > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      waiting_ -= admitted;
      running_ += admitted;
    }
    if (!chunks.empty()) RunStep(chunks);
  }
  // Shutdown: everything still queued or running ends with an error.
  std::vector<std::unique_ptr<Sequence>> rest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& sequence : inbox_) rest.push_back(std::move(sequence));
    inbox_.clear();
    cancels_.clear();
  }
  for (auto& sequence : scheduler_.RemoveAll()) rest.push_back(std::move(sequence));
  for (auto& sequence : rest) {
    Finish(std::move(sequence), FinishReason::kError, absl::UnavailableError("engine shut down"));
  }
}

void Engine::RunStep(const std::vector<ScheduledChunk>& chunks) {
  std::vector<int64_t> tokens;
  std::vector<core::StepSegment> segments;
  int64_t prompt_tokens = 0;
  for (const ScheduledChunk& chunk : chunks) {
    const Sequence& s = *chunk.sequence;
    tokens.insert(tokens.end(), s.tokens.begin() + s.num_cached,
                  s.tokens.begin() + s.num_cached + chunk.num_tokens);
    segments.push_back({s.slot, s.num_cached, chunk.num_tokens, /*all_logits=*/false});
    prompt_tokens +=
        std::max(0, std::min(s.num_cached + chunk.num_tokens, s.prompt_len) - s.num_cached);
  }
  torch::Tensor logits;  // [chunks, V]
  try {
    auto ids =
        torch::from_blob(tokens.data(), {static_cast<int64_t>(tokens.size())}, torch::kInt64);
    logits = model_->ForwardStep(ids, segments, cache_->layers()).to(torch::kFloat32).contiguous();
  } catch (const std::exception& e) {
    const absl::Status status = absl::InternalError(absl::StrCat("model step failed: ", e.what()));
    for (const ScheduledChunk& chunk : chunks) {
      FinishRunning(chunk.sequence, FinishReason::kError, status);
    }
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.steps;
    stats_.prompt_tokens += prompt_tokens;
    stats_.last_step_sequences = static_cast<int>(chunks.size());
    stats_.last_step_tokens = static_cast<int>(tokens.size());
  }

  struct Pick {
    Sequence* sequence;
    float* logits;  // [V] row of this sequence
    int32_t token = -1;
    LogprobEntry logprobs;
  };
  std::vector<Pick> picks;
  const int64_t row_size = logits.size(1);
  float* data = logits.data_ptr<float>();
  for (size_t i = 0; i < chunks.size(); ++i) {
    chunks[i].sequence->num_cached += chunks[i].num_tokens;
    if (chunks[i].samples) picks.push_back({chunks[i].sequence, data + i * row_size, -1, {}});
  }
  auto sample = [this](Pick& pick) {
    Sequence& s = *pick.sequence;
    absl::Span<float> row(pick.logits, vocab_.size());  // ids beyond the vocabulary: never
    if (!s.params.logprobs) {
      pick.token = s.sampler.Sample(row);
      return;
    }
    std::vector<float> raw(row.begin(), row.end());  // the chain modifies `row` in place
    pick.token = s.sampler.Sample(row);
    pick.logprobs = ComputeLogprobs(raw, pick.token, s.params.top_logprobs);
  };
  // Sequences sample independently (own RNG and state): spread them over the intra-op threads.
  core::ParallelFor(0, static_cast<int64_t>(picks.size()), 8, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) sample(picks[i]);
  });
  for (Pick& pick : picks) {
    HandleToken(pick.sequence, pick.token,
                pick.sequence->params.logprobs ? &pick.logprobs : nullptr);
  }
}

void Engine::HandleToken(Sequence* sequence, int32_t token, LogprobEntry* logprobs) {
  Sequence& s = *sequence;
  if (!s.has_first_token) {
    s.first_token = absl::Now();
    s.has_first_token = true;
  }
  s.tokens.push_back(token);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.generated_tokens;
  }
  Delta delta;
  delta.token_ids.push_back(token);
  if (logprobs != nullptr) delta.logprobs.push_back(std::move(*logprobs));

  const SamplingParams& params = s.params;
  const int completion = s.completion_tokens();
  const bool stops_active = completion > params.min_tokens;
  std::optional<FinishReason> reason;
  if (stops_active && !params.ignore_eos && vocab_.eos_id() == token) {
    reason = FinishReason::kEos;
  } else if (stops_active && std::find(params.stop_token_ids.begin(), params.stop_token_ids.end(),
                                       token) != params.stop_token_ids.end()) {
    reason = FinishReason::kStopToken;
  } else {
    std::string text;
    s.detokenizer.Add(token, &text);
    if (!stops_active) {
      delta.text = std::move(text);
    } else if (s.stop.Add(text, &delta.text)) {
      reason = FinishReason::kStopString;
    }
  }
  if (!reason.has_value() && (completion >= params.max_tokens ||
                              static_cast<int>(s.tokens.size()) >= options_.max_context)) {
    reason = FinishReason::kLength;
  }
  if (reason.has_value()) {
    FinishRunning(sequence, *reason, absl::OkStatus(), std::move(delta));
    return;
  }
  try {
    s.sink->OnDelta(delta);
  } catch (...) {
    FinishRunning(sequence, FinishReason::kCancelled, absl::OkStatus());
  }
}

void Engine::FinishRunning(Sequence* sequence, FinishReason reason, absl::Status status,
                           Delta delta) {
  std::unique_ptr<Sequence> owned = scheduler_.Remove(sequence->id);
  Finish(std::move(owned), reason, std::move(status), std::move(delta));
}

void Engine::Finish(std::unique_ptr<Sequence> sequence, FinishReason reason, absl::Status status,
                    Delta delta) {
  Sequence& s = *sequence;
  const absl::Time now = absl::Now();
  Result result;
  result.status = std::move(status);
  result.finish_reason = reason;
  if (reason == FinishReason::kStopString) {
    result.stop_string = s.params.stop[s.stop.stopped_index()];
  } else {
    // Nothing more will come: an unfinished character becomes U+FFFD, held text is released.
    std::string tail;
    s.detokenizer.Finish(&tail);
    if (s.completion_tokens() > s.params.min_tokens && s.stop.Add(tail, &delta.text)) {
      result.finish_reason = FinishReason::kStopString;
      result.stop_string = s.params.stop[s.stop.stopped_index()];
    } else if (s.completion_tokens() > s.params.min_tokens) {
      s.stop.Flush(&delta.text);
    } else {
      delta.text += tail;
    }
  }
  if ((reason == FinishReason::kEos || reason == FinishReason::kStopToken) && !s.tokens.empty()) {
    result.stop_token = s.tokens.back();
  }
  result.usage = {s.prompt_len, s.completion_tokens()};
  result.truncated_prompt_tokens = s.truncated_prompt_tokens;
  result.timings.queue = (s.admitted_yet ? s.admitted : now) - s.submitted;
  result.timings.time_to_first_token =
      s.has_first_token ? s.first_token - s.submitted : absl::ZeroDuration();
  result.timings.total = now - s.submitted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    live_.erase(s.id);
    if (s.admitted_yet) {
      --running_;
    } else {
      --waiting_;
    }
    ++stats_.finished;
  }
  try {
    if (!delta.text.empty() || !delta.token_ids.empty()) s.sink->OnDelta(delta);
    s.sink->OnFinish(result);
  } catch (...) {
    // A sink must not throw; the request is over either way.
  }
}

}  // namespace plume::inference
