#include "trainer/trainer.h"

#include <torch/torch.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/atomic_directory.h"
#include "core/checkpoint.h"
#include "core/file_io.h"
#include "core/gpt.h"
#include "core/sha256.h"
#include "core/status_macros.h"
#include "core/threads.h"
#include "core/tokenizer.h"
#include "trainer/corpus.h"
#include "trainer/metrics_log.h"
#include "trainer/run_checkpoints.h"
#include "trainer/token_dataset.h"
#include "trainer/train_step.h"

namespace plume::trainer {
namespace fs = std::filesystem;
namespace {

std::atomic<bool> g_stop_requested{false};

constexpr char kRunFile[] = "run.json";
constexpr char kMetricsFile[] = "metrics.jsonl";
constexpr char kTokenizerDir[] = "tokenizer";
constexpr int kTokenizerTrainingMaxBytes = 64 << 20;  // text sampled to train a tokenizer

using Clock = std::chrono::steady_clock;

void Log(const std::string& line) {
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

std::string FormatDuration(double seconds) {
  const int s = static_cast<int>(std::max(0.0, seconds));
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, s / 60 % 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

// Checks that the output directory is new or holds this very run (when resuming). A directory
// whose previous attempt never reached a checkpoint holds nothing of value and starts afresh.
absl::Status PrepareRunDirectory(const TrainConfig& config, bool resume) {
  const std::string& dir = config.output_dir;
  const std::string run_file = dir + "/" + kRunFile;
  std::error_code ec;
  if (fs::exists(run_file)) {
    ASSIGN_OR_RETURN(std::string text, core::ReadFile(run_file));
    const auto run = nlohmann::json::parse(text, nullptr, false);
    const bool same = run.is_object() && run.contains("identity") && run["identity"] == config.IdentityJson();
    const bool has_checkpoints = !RunCheckpoints(dir).List().empty();
    if (has_checkpoints && !resume) {
      return absl::AlreadyExistsError(absl::StrCat(
          "output directory ", dir, " holds another run; pass --resume to continue it or choose a new --output_dir"));
    }
    if (has_checkpoints && !same) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot resume ", dir, ": its run was started with a different configuration (only max_steps "
          "may change); choose a new --output_dir"));
    }
    if (has_checkpoints || (resume && same)) return absl::OkStatus();
    Log(absl::StrCat("event=restart output_dir=", dir, " reason=no checkpoint from the previous attempt"));
    for (const char* stale : {kRunFile, kMetricsFile, kTokenizerDir}) fs::remove_all(dir + "/" + stale, ec);
  } else if (fs::exists(dir) && !fs::is_empty(dir, ec)) {
    return absl::AlreadyExistsError(absl::StrCat("output directory ", dir,
                                                 " is not empty and holds no Plume run; choose a new --output_dir"));
  }
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  nlohmann::ordered_json run;
  run["identity"] = config.IdentityJson();
  run["plume_version"] = PLUME_VERSION;
  run["started_unix"] = std::time(nullptr);
  return core::WriteFileAtomically(run_file, run.dump(2) + "\n");
}

// The run's tokenizer lives in <run>/tokenizer: given, taken from the init checkpoint, or trained.
absl::StatusOr<core::Tokenizer> PrepareTokenizer(const TrainConfig& config) {
  const std::string dir = config.output_dir + "/" + kTokenizerDir;
  if (fs::exists(dir)) return core::Tokenizer::FromDirectory(dir);
  std::optional<core::Tokenizer> tokenizer;
  if (!config.tokenizer.empty()) {
    if (fs::is_directory(config.tokenizer)) {
      ASSIGN_OR_RETURN(tokenizer, core::Tokenizer::FromDirectory(config.tokenizer));
    } else {
      ASSIGN_OR_RETURN(tokenizer, core::Tokenizer::FromTokenizerJson(config.tokenizer));
    }
  } else if (!config.init.empty()) {
    absl::StatusOr<core::Tokenizer> from_init = core::Tokenizer::FromDirectory(config.init);
    if (!from_init.ok()) {
      return absl::Status(from_init.status().code(),
                          absl::StrCat("cannot read the tokenizer of --init ", config.init, ": ",
                                       from_init.status().message(), " (set `tokenizer:` to give one)"));
    }
    tokenizer = std::move(*from_init);
  } else {
    ASSIGN_OR_RETURN(std::vector<std::string> files, ExpandCorpusPaths(config.data.train));
    ASSIGN_OR_RETURN(std::vector<Document> docs, ReadDocuments(files, config.data));
    std::vector<std::string> texts;
    size_t bytes = 0;
    for (auto& doc : docs) {
      if (bytes >= kTokenizerTrainingMaxBytes) break;
      bytes += doc.prompt.size() + doc.text.size();
      if (!doc.prompt.empty()) texts.push_back(std::move(doc.prompt));
      texts.push_back(std::move(doc.text));
    }
    core::BpeTrainerOptions options;
    options.vocab_size = config.model->vocab_size;
    options.threads = config.threads;
    const auto start = Clock::now();
    ASSIGN_OR_RETURN(tokenizer, core::TrainBpe(texts, options));
    Log(absl::StrFormat("event=tokenizer_trained vocab_size=%d corpus_bytes=%d seconds=%.1f",
                        tokenizer->vocab_size(), bytes,
                        std::chrono::duration<double>(Clock::now() - start).count()));
  }
  ASSIGN_OR_RETURN(core::AtomicDirectory temp, core::AtomicDirectory::Create(dir));
  RETURN_IF_ERROR(tokenizer->SaveToDirectory(temp.path()));
  RETURN_IF_ERROR(temp.Commit());
  return core::Tokenizer::FromDirectory(dir);
}

absl::StatusOr<std::string> TokenizerFingerprint(const std::string& dir) {
  core::Sha256 sha;
  for (const char* name : {"vocab.json", "merges.txt", "tokenizer.json"}) {
    const std::string path = dir + "/" + name;
    if (!fs::exists(path)) continue;
    ASSIGN_OR_RETURN(std::string digest, core::Sha256OfFile(path));
    sha.Update(absl::StrCat(name, ":", digest, "\n"));
  }
  return sha.HexDigest();
}

absl::StatusOr<core::Gpt> BuildModel(const TrainConfig& config) {
  if (!config.init.empty()) {
    ASSIGN_OR_RETURN(std::shared_ptr<core::GptImpl> loaded, core::LoadModel(config.init));
    return core::Gpt(loaded);
  }
  return core::Gpt(*config.model);
}

// Mean validation loss over the first `max_batches` micro-batches (0 = the whole split).
double Validate(core::GptImpl& model, WindowSampler& sampler, int batch_size, int max_batches) {
  model.eval();
  LossSum total;
  const int64_t windows = sampler.num_windows();
  int batches = 0;
  for (int64_t first = 0; first < windows && (max_batches == 0 || batches < max_batches); first += batch_size, ++batches) {
    const int count = static_cast<int>(std::min<int64_t>(batch_size, windows - first));
    LossSum part = EvaluateLoss(model, {sampler.Batch(first, count)});
    total.sum += part.sum;
    total.tokens += part.tokens;
  }
  model.train();
  return total.tokens > 0 ? total.sum / static_cast<double>(total.tokens) : std::nan("");
}

}  // namespace

void RequestStop() { g_stop_requested.store(true); }

absl::Status RunTraining(const TrainConfig& config, const RunOptions& options) {
  RETURN_IF_ERROR(config.Validate());
  const int threads = core::ConfigureTorchThreads(config.threads);
  RETURN_IF_ERROR(PrepareRunDirectory(config, options.resume));
  RunCheckpoints checkpoints(config.output_dir);
  std::optional<CheckpointInfo> resume_from;
  if (options.resume) {
    std::vector<CheckpointInfo> all = checkpoints.List();
    if (!all.empty()) resume_from = all.back();
  }

  torch::manual_seed(config.seed);
  ASSIGN_OR_RETURN(core::Tokenizer tokenizer, PrepareTokenizer(config));
  ASSIGN_OR_RETURN(core::Gpt model, BuildModel(config));
  const core::GptConfig& shape = model->config();
  if (tokenizer.vocab_size() > shape.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the tokenizer has ", tokenizer.vocab_size(), " tokens but the model's vocab_size is ", shape.vocab_size,
        ": token ids would index past the embedding; use a matching tokenizer or model"));
  }
  if (config.seq_len > shape.n_positions) {
    return absl::InvalidArgumentError(absl::StrCat("training.seq_len=", config.seq_len,
                                                   " exceeds the model's n_positions=", shape.n_positions));
  }

  ASSIGN_OR_RETURN(std::string fingerprint, TokenizerFingerprint(config.output_dir + "/" + kTokenizerDir));
  const std::string cache_root = config.data.cache_dir.empty() ? config.output_dir + "/cache" : config.data.cache_dir;
  const auto prepare_start = Clock::now();
  ASSIGN_OR_RETURN(PreparedCorpus corpus, PrepareCorpus(config.data, tokenizer, fingerprint, cache_root, config.threads));
  Log(absl::StrFormat(
      "event=corpus train_documents=%d train_tokens=%d validation_documents=%d validation_tokens=%d cached=%s seconds=%.1f",
      corpus.train_documents, corpus.train.size(), corpus.validation_documents, corpus.validation.size(),
      corpus.from_cache ? "yes" : "no", std::chrono::duration<double>(Clock::now() - prepare_start).count()));
  WindowSampler train_windows(corpus.train, config.seq_len, config.seed, /*shuffle=*/true);
  WindowSampler validation_windows(corpus.validation, config.seq_len, config.seed, /*shuffle=*/false);
  if (train_windows.num_windows() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the training corpus has ", corpus.train.size(), " tokens, fewer than one context window of ",
        config.seq_len + 1, " (training.seq_len + 1); add text or lower training.seq_len"));
  }
  const bool evaluate = validation_windows.num_windows() > 0;
  if (!evaluate) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the validation split has ", corpus.validation.size(), " tokens, fewer than one context window of ",
        config.seq_len + 1, "; raise data.validation_fraction or give data.validation"));
  }

  NamedTensors params;
  for (auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
  AdamOptimizer optimizer(params, config.adam);
  TrainerState state;
  state.identity = config.IdentityJson();
  if (resume_from) {
    RETURN_IF_ERROR(checkpoints.Restore(*resume_from, *model, optimizer));
    state = resume_from->state;
    Log(absl::StrCat("event=resume checkpoint=", resume_from->dir, " step=", state.step));
  } else if (options.resume) {
    Log("event=resume checkpoint=none step=0");
  }
  ASSIGN_OR_RETURN(MetricsLog metrics, MetricsLog::Open(config.output_dir + "/" + kMetricsFile, state.step));

  LrSchedule schedule = config.schedule;
  if (schedule.decay_steps == 0) schedule.decay_steps = config.max_steps;
  Log(absl::StrFormat("event=start params=%d threads=%d step=%d max_steps=%d tokens_per_step=%d output_dir=%s",
                      shape.NumParameters(), threads, state.step, config.max_steps,
                      static_cast<int64_t>(config.batch_size) * config.grad_accum * config.seq_len, config.output_dir));

  const bool tty = ::isatty(STDERR_FILENO);
  model->train();
  auto save = [&](bool final_checkpoint) -> absl::Status {
    RETURN_IF_ERROR(checkpoints.Save(*model, optimizer, tokenizer, state));
    RETURN_IF_ERROR(checkpoints.Prune(config.keep_last, config.keep_best));
    if (tty) std::fprintf(stderr, "\n");
    Log(absl::StrFormat("event=checkpoint step=%d dir=%s val_loss=%.4f%s", state.step,
                        checkpoints.DirFor(state.step), *state.val_loss, final_checkpoint ? " final=yes" : ""));
    return absl::OkStatus();
  };

  if (state.step >= config.max_steps) {
    Log(absl::StrCat("event=done step=", state.step, " (max_steps already reached)"));
    return absl::OkStatus();
  }
  if (state.step == 0) {
    // The starting point, so the log shows how far training moved validation loss.
    const double val = Validate(*model, validation_windows, config.batch_size, config.eval_batches);
    metrics.Append({{"step", 0}, {"val_loss", val}, {"val_perplexity", std::exp(val)}});
    Log(absl::StrFormat("event=eval step=0 val_loss=%.4f val_perplexity=%.2f", val, std::exp(val)));
  }
  const auto run_start = Clock::now();
  const double elapsed_before = state.elapsed_seconds;
  const int64_t start_step = state.step;
  double window_tokens = 0;
  auto window_start = Clock::now();
  while (state.step < config.max_steps) {
    std::vector<MicroBatch> batch;
    for (int m = 0; m < config.grad_accum; ++m) {
      batch.push_back(train_windows.Batch(state.samples, config.batch_size));
      state.samples += config.batch_size;
    }
    const double lr = schedule.LearningRate(static_cast<int>(state.step));
    const StepResult result = TrainStep(*model, optimizer, batch, lr, config.grad_clip);
    if (!std::isfinite(result.loss)) {
      return absl::InternalError(absl::StrFormat(
          "loss became %f at step %d; lower optimizer.lr or raise warmup (the last checkpoint is intact)",
          result.loss, state.step + 1));
    }
    ++state.step;
    state.tokens += result.tokens;
    state.val_loss.reset();
    window_tokens += static_cast<double>(result.tokens);
    state.elapsed_seconds = elapsed_before + std::chrono::duration<double>(Clock::now() - run_start).count();

    const bool last = state.step == config.max_steps;
    const bool stopping = g_stop_requested.load();
    if (state.step % config.log_every == 0 || last || stopping || tty) {
      const double window_seconds = std::chrono::duration<double>(Clock::now() - window_start).count();
      const double tokens_per_sec = window_tokens / std::max(window_seconds, 1e-9);
      const double per_step = (state.elapsed_seconds - elapsed_before) / static_cast<double>(state.step - start_step);
      const double eta = per_step * static_cast<double>(config.max_steps - state.step);
      if (state.step % config.log_every == 0 || last || stopping) {
        metrics.Append({{"step", state.step}, {"loss", result.loss}, {"lr", lr}, {"grad_norm", result.grad_norm},
                        {"tokens", state.tokens}, {"tokens_per_sec", tokens_per_sec},
                        {"elapsed_seconds", state.elapsed_seconds}});
      }
      const std::string line = absl::StrFormat("step %d/%d loss %.4f lr %.2e tok/s %.0f ETA %s", state.step,
                                               config.max_steps, result.loss, lr, tokens_per_sec, FormatDuration(eta));
      if (tty) {
        std::fprintf(stderr, "\r%s\033[K", line.c_str());
        std::fflush(stderr);
      } else if (state.step % config.log_every == 0 || last) {
        Log(absl::StrFormat("event=step step=%d loss=%.4f lr=%.3e grad_norm=%.3f tokens_per_sec=%.0f eta_seconds=%.0f",
                            state.step, result.loss, lr, result.grad_norm, tokens_per_sec, eta));
      }
      if (state.step % config.log_every == 0) {
        window_tokens = 0;
        window_start = Clock::now();
      }
    }
    const bool eval_due = config.eval_every > 0 && state.step % config.eval_every == 0;
    const bool checkpoint_due = (config.checkpoint_every > 0 && state.step % config.checkpoint_every == 0) || last || stopping;
    if (eval_due || checkpoint_due) {
      const double val = Validate(*model, validation_windows, config.batch_size, config.eval_batches);
      state.val_loss = val;
      if (!state.best_val_loss || val < *state.best_val_loss) {
        state.best_val_loss = val;
        state.best_step = state.step;
      }
      metrics.Append({{"step", state.step}, {"val_loss", val}, {"val_perplexity", std::exp(val)}});
      if (tty) std::fprintf(stderr, "\n");
      Log(absl::StrFormat("event=eval step=%d val_loss=%.4f val_perplexity=%.2f", state.step, val, std::exp(val)));
    }
    if (checkpoint_due) RETURN_IF_ERROR(save(last));
    if (stopping) {
      Log(absl::StrCat("event=stopped step=", state.step, " reason=signal"));
      return absl::OkStatus();
    }
  }
  Log(absl::StrFormat("event=done step=%d best_val_loss=%.4f best_step=%d", state.step,
                      state.best_val_loss.value_or(std::nan("")), state.best_step));
  return absl::OkStatus();
}

}  // namespace plume::trainer
