#include "trainer/trainer.h"

#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/checkpoint.h"
#include "core/gpt.h"
#include "core/status_macros.h"
#include "core/threads.h"
#include "core/tokenizer.h"
#include "trainer/metrics_log.h"
#include "trainer/progress.h"
#include "trainer/run_checkpoints.h"
#include "trainer/run_setup.h"
#include "trainer/token_dataset.h"
#include "trainer/train_step.h"

namespace plume::trainer {
namespace {

std::atomic<bool> g_stop_requested{false};

using Clock = std::chrono::steady_clock;

absl::StatusOr<core::Gpt> BuildModel(const TrainConfig& config) {
  if (!config.init.empty()) {
    ASSIGN_OR_RETURN(std::shared_ptr<core::GptImpl> loaded, core::LoadModel(config.init));
    return core::Gpt(loaded);
  }
  return core::Gpt(*config.model);
}

absl::Status CheckFits(const core::Tokenizer& tokenizer, const core::GptConfig& shape, const TrainConfig& config) {
  if (tokenizer.vocab_size() > shape.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the tokenizer has ", tokenizer.vocab_size(), " tokens but the model's vocab_size is ", shape.vocab_size,
        ": token ids would index past the embedding; use a matching tokenizer or model"));
  }
  if (config.seq_len > shape.n_positions) {
    return absl::InvalidArgumentError(absl::StrCat("training.seq_len=", config.seq_len,
                                                   " exceeds the model's n_positions=", shape.n_positions));
  }
  return absl::OkStatus();
}

absl::Status CheckWindows(const char* split, const TokenShard& shard, const WindowSampler& windows,
                          int seq_len, const char* remedy) {
  if (windows.num_windows() > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("the ", split, " has ", shard.size(),
                                                 " tokens, fewer than one context window of ", seq_len + 1,
                                                 " (training.seq_len + 1); ", remedy));
}

// One training run from set-up to its last checkpoint.
class TrainingRun {
 public:
  explicit TrainingRun(const TrainConfig& config) : config_(config), checkpoints_(config.output_dir) {}

  absl::Status Run(bool resume) {
    const int threads = core::ConfigureTorchThreads(config_.threads);
    RETURN_IF_ERROR(PrepareRunDirectory(config_, resume));
    torch::manual_seed(config_.seed);
    ASSIGN_OR_RETURN(tokenizer_, PrepareRunTokenizer(config_));
    ASSIGN_OR_RETURN(model_, BuildModel(config_));
    RETURN_IF_ERROR(CheckFits(*tokenizer_, model_->config(), config_));
    RETURN_IF_ERROR(PrepareData());
    NamedTensors params;
    for (auto& p : model_->named_parameters()) params.emplace_back(p.key(), p.value());
    optimizer_.emplace(params, config_.adam);
    state_.identity = config_.IdentityJson();
    if (resume) RETURN_IF_ERROR(RestoreNewest());
    ASSIGN_OR_RETURN(metrics_, MetricsLog::Open(config_.output_dir + "/" + kMetricsFile, state_.step));
    schedule_ = config_.schedule;
    if (schedule_.decay_steps == 0) schedule_.decay_steps = config_.max_steps;
    LogEvent(absl::StrFormat("event=start params=%d threads=%d step=%d max_steps=%d tokens_per_step=%d output_dir=%s",
                             model_->config().NumParameters(), threads, state_.step, config_.max_steps,
                             static_cast<int64_t>(config_.batch_size) * config_.grad_accum * config_.seq_len,
                             config_.output_dir));
    if (state_.step >= config_.max_steps) {
      LogEvent(absl::StrCat("event=done step=", state_.step, " (max_steps already reached)"));
      return absl::OkStatus();
    }
    return Loop();
  }

 private:
  absl::Status PrepareData() {
    ASSIGN_OR_RETURN(std::string fingerprint, TokenizerFingerprint(config_.output_dir + "/" + kRunTokenizerDir));
    const std::string cache_root = config_.data.cache_dir.empty() ? config_.output_dir + "/cache" : config_.data.cache_dir;
    const auto start = Clock::now();
    ASSIGN_OR_RETURN(corpus_, PrepareCorpus(config_.data, *tokenizer_, fingerprint, cache_root, config_.threads));
    LogEvent(absl::StrFormat(
        "event=corpus train_documents=%d train_tokens=%d validation_documents=%d validation_tokens=%d cached=%s "
        "seconds=%.1f",
        corpus_->train_documents, corpus_->train.size(), corpus_->validation_documents, corpus_->validation.size(),
        corpus_->from_cache ? "yes" : "no", std::chrono::duration<double>(Clock::now() - start).count()));
    train_windows_.emplace(corpus_->train, config_.seq_len, config_.seed, /*shuffle=*/true);
    validation_windows_.emplace(corpus_->validation, config_.seq_len, config_.seed, /*shuffle=*/false);
    RETURN_IF_ERROR(CheckWindows("training corpus", corpus_->train, *train_windows_, config_.seq_len,
                                 "add text or lower training.seq_len"));
    return CheckWindows("validation split", corpus_->validation, *validation_windows_, config_.seq_len,
                        "raise data.validation_fraction or give data.validation");
  }

  absl::Status RestoreNewest() {
    const std::vector<CheckpointInfo> all = checkpoints_.List();
    if (all.empty()) {
      LogEvent("event=resume checkpoint=none step=0");
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(checkpoints_.Restore(all.back(), *model_, *optimizer_));
    state_ = all.back().state;
    LogEvent(absl::StrCat("event=resume checkpoint=", all.back().dir, " step=", state_.step));
    return absl::OkStatus();
  }

  // Mean validation loss over the first eval_batches micro-batches (0 = the whole split).
  double Evaluate() {
    model_->eval();
    LossSum total;
    const int64_t windows = validation_windows_->num_windows();
    for (int64_t first = 0, batches = 0; first < windows && (config_.eval_batches == 0 || batches < config_.eval_batches);
         first += config_.batch_size, ++batches) {
      const int count = static_cast<int>(std::min<int64_t>(config_.batch_size, windows - first));
      const LossSum part = EvaluateLoss(*model_, {validation_windows_->Batch(first, count)});
      total.sum += part.sum;
      total.tokens += part.tokens;
    }
    model_->train();
    const double loss = total.sum / static_cast<double>(std::max<int64_t>(total.tokens, 1));
    state_.val_loss = loss;
    if (!state_.best_val_loss || loss < *state_.best_val_loss) {
      state_.best_val_loss = loss;
      state_.best_step = state_.step;
    }
    progress_->OnEval(state_.step, loss);
    return loss;
  }

  absl::Status Checkpoint(bool final_checkpoint) {
    RETURN_IF_ERROR(checkpoints_.Save(*model_, *optimizer_, *tokenizer_, state_));
    RETURN_IF_ERROR(checkpoints_.Prune(config_.keep_last, config_.keep_best));
    LogEvent(absl::StrFormat("event=checkpoint step=%d dir=%s val_loss=%.4f%s", state_.step,
                             checkpoints_.DirFor(state_.step), *state_.val_loss, final_checkpoint ? " final=yes" : ""));
    return absl::OkStatus();
  }

  absl::Status Loop() {
    progress_.emplace(&*metrics_, config_.log_every, config_.max_steps, state_);
    model_->train();
    if (state_.step == 0) Evaluate();  // the starting point, to show how far training moves it
    const auto run_start = Clock::now();
    const double elapsed_before = state_.elapsed_seconds;
    while (state_.step < config_.max_steps) {
      std::vector<MicroBatch> batch;
      for (int m = 0; m < config_.grad_accum; ++m) {
        batch.push_back(train_windows_->Batch(state_.samples, config_.batch_size));
        state_.samples += config_.batch_size;
      }
      const double lr = schedule_.LearningRate(static_cast<int>(state_.step));
      const StepResult result = TrainStep(*model_, *optimizer_, batch, lr, config_.grad_clip);
      if (!std::isfinite(result.loss)) {
        return absl::InternalError(absl::StrFormat(
            "loss became %f at step %d; lower optimizer.lr or raise warmup (the last checkpoint is intact)",
            result.loss, state_.step + 1));
      }
      ++state_.step;
      state_.tokens += result.tokens;
      state_.val_loss.reset();
      state_.elapsed_seconds = elapsed_before + std::chrono::duration<double>(Clock::now() - run_start).count();

      const bool last = state_.step == config_.max_steps;
      const bool stopping = g_stop_requested.load();
      progress_->OnStep(state_, result, lr, last || stopping);
      const bool checkpoint_due =
          (config_.checkpoint_every > 0 && state_.step % config_.checkpoint_every == 0) || last || stopping;
      // Every checkpoint carries its validation loss, so the best one can be kept.
      if (checkpoint_due || (config_.eval_every > 0 && state_.step % config_.eval_every == 0)) Evaluate();
      if (checkpoint_due) RETURN_IF_ERROR(Checkpoint(last));
      if (stopping) {
        LogEvent(absl::StrCat("event=stopped step=", state_.step, " reason=signal"));
        return absl::OkStatus();
      }
    }
    LogEvent(absl::StrFormat("event=done step=%d best_val_loss=%.4f best_step=%d", state_.step,
                             state_.best_val_loss.value_or(std::nan("")), state_.best_step));
    return absl::OkStatus();
  }

  const TrainConfig& config_;
  RunCheckpoints checkpoints_;
  std::optional<core::Tokenizer> tokenizer_;
  core::Gpt model_{nullptr};
  std::optional<PreparedCorpus> corpus_;
  std::optional<WindowSampler> train_windows_, validation_windows_;
  std::optional<AdamOptimizer> optimizer_;
  std::optional<MetricsLog> metrics_;
  std::optional<Progress> progress_;
  LrSchedule schedule_;
  TrainerState state_;
};

}  // namespace

void RequestStop() { g_stop_requested.store(true); }

absl::Status RunTraining(const TrainConfig& config, const RunOptions& options) {
  RETURN_IF_ERROR(config.Validate());
  return TrainingRun(config).Run(options.resume);
}

}  // namespace plume::trainer
