// Learning-rate schedules: constant, linear warmup + cosine decay to a floor, linear decay.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plume::trainer {

enum class ScheduleKind { kConstant, kCosine, kLinear };

absl::StatusOr<ScheduleKind> ParseScheduleKind(absl::string_view name);  // constant|cosine|linear
absl::string_view ScheduleKindName(ScheduleKind kind);

struct LrSchedule {
  ScheduleKind kind = ScheduleKind::kCosine;  // shape after warmup
  double peak_lr = 3e-4;                      // learning rate reached after warmup
  int warmup_steps = 0;                       // linear ramp from peak_lr/warmup to peak_lr; 0 = off
  int decay_steps = 0;                        // step at which decay reaches the floor; 0 = max_steps
  double min_lr_ratio = 0.1;                  // floor = peak_lr * min_lr_ratio (cosine, linear)

  absl::Status Validate() const;
  // Learning rate for optimizer step `step` (0-based).
  double LearningRate(int step) const;
};

}  // namespace plume::trainer
