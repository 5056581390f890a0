#include "trainer/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_format.h"

namespace plume::trainer {
namespace {

bool g_live_line_shown = false;  // a \r-updated status line is on the terminal

std::string FormatDuration(double seconds) {
  const int s = static_cast<int>(std::max(0.0, seconds));
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, s / 60 % 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

}  // namespace

void LogEvent(const std::string& line) {
  if (g_live_line_shown) std::fputc('\n', stderr);
  g_live_line_shown = false;
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

Progress::Progress(MetricsLog* metrics, int log_every, int64_t max_steps, const TrainerState& state)
    : metrics_(metrics),
      log_every_(log_every),
      max_steps_(max_steps),
      start_step_(state.step),
      start_elapsed_(state.elapsed_seconds),
      tty_(::isatty(STDERR_FILENO)) {}

void Progress::OnStep(const TrainerState& state, const StepResult& result, double lr, bool force) {
  window_tokens_ += static_cast<double>(result.tokens);
  const bool on_grid = state.step % log_every_ == 0;
  if (!on_grid && !force && !tty_) return;
  const double window_seconds = std::chrono::duration<double>(Clock::now() - window_start_).count();
  const double tokens_per_sec = window_tokens_ / std::max(window_seconds, 1e-9);
  const double per_step = (state.elapsed_seconds - start_elapsed_) / static_cast<double>(state.step - start_step_);
  const double eta = per_step * static_cast<double>(max_steps_ - state.step);
  if (on_grid || force) {
    metrics_->Append({{"step", state.step}, {"loss", result.loss}, {"lr", lr}, {"grad_norm", result.grad_norm},
                      {"tokens", state.tokens}, {"tokens_per_sec", tokens_per_sec},
                      {"elapsed_seconds", state.elapsed_seconds}});
  }
  if (tty_) {
    std::fprintf(stderr, "\rstep %lld/%lld loss %.4f lr %.2e tok/s %.0f ETA %s\033[K",
                 static_cast<long long>(state.step), static_cast<long long>(max_steps_), result.loss, lr,
                 tokens_per_sec, FormatDuration(eta).c_str());
    std::fflush(stderr);
    g_live_line_shown = true;
  } else {
    LogEvent(absl::StrFormat("event=step step=%d loss=%.4f lr=%.3e grad_norm=%.3f tokens_per_sec=%.0f eta_seconds=%.0f",
                             state.step, result.loss, lr, result.grad_norm, tokens_per_sec, eta));
  }
  if (on_grid) {
    window_tokens_ = 0;
    window_start_ = Clock::now();
  }
}

void Progress::OnEval(int64_t step, double val_loss) {
  metrics_->Append({{"step", step}, {"val_loss", val_loss}, {"val_perplexity", std::exp(val_loss)}});
  LogEvent(absl::StrFormat("event=eval step=%d val_loss=%.4f val_perplexity=%.2f", step, val_loss, std::exp(val_loss)));
}

}  // namespace plume::trainer
