// The checkpoints of a training run: <run>/checkpoints/step-00000200/, each a complete model
// directory (config.json, model.safetensors, tokenizer files) plus trainer_state.json and
// optimizer.safetensors, written atomically. Lists complete ones, prunes to the newest K plus
// the best by validation loss, restores the newest for --resume.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/tokenizer.h"
#include "trainer/adam_optimizer.h"

namespace plume::core {
class GptImpl;
}

namespace plume::trainer {

inline constexpr char kTrainerStateFile[] = "trainer_state.json";
inline constexpr char kOptimizerStateFile[] = "optimizer.safetensors";

// Where a run stands after `step` optimizer steps: enough to continue it exactly.
struct TrainerState {
  int64_t step = 0;                     // optimizer steps done
  int64_t samples = 0;                  // training windows consumed (the data position)
  int64_t tokens = 0;                   // target tokens trained on
  std::optional<double> val_loss;       // validation loss at this step, when evaluated
  std::optional<double> best_val_loss;  // best validation loss of the run so far
  int64_t best_step = -1;               // its step
  double elapsed_seconds = 0;           // training time so far
  std::string identity;                 // TrainConfig::IdentityJson() of the run

  std::string ToJson() const;
  static absl::StatusOr<TrainerState> FromJson(absl::string_view json, absl::string_view source);
};

struct CheckpointInfo {
  std::string dir;
  TrainerState state;
};

class RunCheckpoints {
 public:
  explicit RunCheckpoints(std::string run_dir);

  const std::string& root() const { return root_; }  // <run>/checkpoints
  std::string DirFor(int64_t step) const;

  // Writes the checkpoint of `state.step` atomically (optimizer moments and the torch RNG state
  // included).
  absl::Status Save(core::GptImpl& model, const AdamOptimizer& optimizer,
                    const core::Tokenizer& tokenizer, const TrainerState& state) const;

  // Complete checkpoints (a readable trainer_state.json), oldest first. Temporary and
  // incomplete directories are skipped.
  std::vector<CheckpointInfo> List() const;

  // Deletes all but the newest `keep_last` and, when `keep_best`, the one with the best
  // validation loss.
  absl::Status Prune(int keep_last, bool keep_best) const;

  // Loads weights, optimizer moments and the RNG state of `checkpoint`.
  absl::Status Restore(const CheckpointInfo& checkpoint, core::GptImpl& model,
                       AdamOptimizer& optimizer) const;

 private:
  std::string root_;
};

}  // namespace plume::trainer
