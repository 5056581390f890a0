#include "trainer/lr_schedule.h"

#include <cmath>
#include <numbers>

#include "absl/strings/str_cat.h"

namespace plume::trainer {

absl::StatusOr<ScheduleKind> ParseScheduleKind(absl::string_view name) {
  if (name == "constant") return ScheduleKind::kConstant;
  if (name == "cosine") return ScheduleKind::kCosine;
  if (name == "linear") return ScheduleKind::kLinear;
  return absl::InvalidArgumentError(
      absl::StrCat("schedule kind '", name, "' is not one of constant, cosine, linear"));
}

absl::string_view ScheduleKindName(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::kConstant: return "constant";
    case ScheduleKind::kCosine: return "cosine";
    case ScheduleKind::kLinear: return "linear";
  }
  return "?";
}

absl::Status LrSchedule::Validate() const {
  if (!(peak_lr > 0 && peak_lr < 10)) {
    return absl::InvalidArgumentError(absl::StrCat("schedule: lr=", peak_lr, " must be in (0, 10)"));
  }
  if (warmup_steps < 0) return absl::InvalidArgumentError("schedule: warmup_steps must be >= 0");
  if (decay_steps < 0) return absl::InvalidArgumentError("schedule: decay_steps must be >= 0");
  if (!(min_lr_ratio >= 0 && min_lr_ratio <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("schedule: min_lr_ratio=", min_lr_ratio, " must be in [0, 1]"));
  }
  if (kind != ScheduleKind::kConstant && decay_steps > 0 && decay_steps <= warmup_steps) {
    return absl::InvalidArgumentError(absl::StrCat("schedule: decay_steps=", decay_steps,
                                                   " must exceed warmup_steps=", warmup_steps));
  }
  return absl::OkStatus();
}

double LrSchedule::LearningRate(int step) const {
  if (step < warmup_steps) return peak_lr * (step + 1) / warmup_steps;
  if (kind == ScheduleKind::kConstant || decay_steps <= warmup_steps) return peak_lr;
  const double floor = peak_lr * min_lr_ratio;
  if (step >= decay_steps) return floor;
  const double progress =
      static_cast<double>(step - warmup_steps) / static_cast<double>(decay_steps - warmup_steps);
  if (kind == ScheduleKind::kLinear) return peak_lr - (peak_lr - floor) * progress;
  return floor + 0.5 * (peak_lr - floor) * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace plume::trainer
