// plume-train: pre-trains or fine-tunes a GPT model from a YAML recipe.
//   plume-train --config configs/train/demo-pretrain.yaml [--output_dir DIR] [--init CKPT]
//               [--max_steps N] [--resume]
// SIGINT/SIGTERM: finish the current step, write a checkpoint, exit 0 (a second signal kills).
#include <csignal>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "core/allocator.h"
#include "trainer/train_config.h"
#include "trainer/trainer.h"

ABSL_FLAG(std::string, config, "", "training recipe (YAML), e.g. configs/train/demo-pretrain.yaml");
ABSL_FLAG(std::string, output_dir, "", "run directory (overrides output_dir)");
ABSL_FLAG(std::string, init, "", "checkpoint directory to fine-tune from (overrides init)");
ABSL_FLAG(int, max_steps, 0, "optimizer steps of the run (overrides training.max_steps)");
ABSL_FLAG(bool, resume, false, "continue the run in output_dir from its newest complete checkpoint");

namespace {

void OnStopSignal(int signal) {
  plume::trainer::RequestStop();
  std::signal(signal, SIG_DFL);  // a second signal ends the process at once
}

int Fail(const absl::Status& status) {
  std::cerr << "plume-train: " << status.message() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "plume-train --config FILE [--output_dir DIR] [--init CKPT] [--max_steps N] [--resume]");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() > 1) return Fail(absl::InvalidArgumentError(std::string("unexpected argument: ") + args[1]));
  if (absl::GetFlag(FLAGS_config).empty()) return Fail(absl::InvalidArgumentError("--config is required"));
  absl::StatusOr<plume::trainer::TrainConfig> config =
      plume::trainer::TrainConfig::FromYamlFile(absl::GetFlag(FLAGS_config));
  if (!config.ok()) return Fail(config.status());
  if (!absl::GetFlag(FLAGS_output_dir).empty()) config->output_dir = absl::GetFlag(FLAGS_output_dir);
  if (!absl::GetFlag(FLAGS_init).empty()) {
    config->init = absl::GetFlag(FLAGS_init);
    config->model.reset();  // the checkpoint defines the shape
  }
  if (absl::GetFlag(FLAGS_max_steps) > 0) config->max_steps = absl::GetFlag(FLAGS_max_steps);
  if (absl::Status valid = config->Validate(); !valid.ok()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(absl::GetFlag(FLAGS_config), ": ", valid.message())));
  }

  plume::core::ConfigureAllocatorForLargeTensors();
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  absl::Status status = plume::trainer::RunTraining(*config, {absl::GetFlag(FLAGS_resume)});
  if (!status.ok()) return Fail(status);
  return 0;
}
