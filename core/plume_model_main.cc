// plume-model: create a randomly initialised checkpoint from a model config, or describe one.
//   plume-model init --config configs/model/tiny.yaml --out DIR [--seed N] [--dtype F32|F16|BF16]
//   plume-model inspect DIR
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "core/checkpoint.h"
#include "core/gpt.h"
#include "core/safetensors.h"
#include "core/threads.h"

ABSL_FLAG(std::string, config, "", "model config YAML (init)");
ABSL_FLAG(std::string, out, "", "checkpoint directory to create (init)");
ABSL_FLAG(int, seed, 0, "random seed for the initial weights (init)");
ABSL_FLAG(std::string, dtype, "F32", "weight dtype to store: F32, F16 or BF16 (init)");
ABSL_FLAG(int, threads, 0, "intra-op threads; 0 = all cores");

namespace plume {
namespace {

int Fail(const absl::Status& status) {
  std::cerr << "plume-model: " << status.message() << "\n";
  return 1;
}

int Init() {
  if (absl::GetFlag(FLAGS_config).empty() || absl::GetFlag(FLAGS_out).empty()) {
    return Fail(absl::InvalidArgumentError("init needs --config and --out"));
  }
  const std::string dtype_name = absl::GetFlag(FLAGS_dtype);
  core::SafetensorsDtype dtype;
  if (dtype_name == "F32") dtype = core::SafetensorsDtype::kF32;
  else if (dtype_name == "F16") dtype = core::SafetensorsDtype::kF16;
  else if (dtype_name == "BF16") dtype = core::SafetensorsDtype::kBF16;
  else return Fail(absl::InvalidArgumentError(absl::StrCat("--dtype=", dtype_name, " must be F32, F16 or BF16")));
  auto config = core::GptConfig::FromYamlFile(absl::GetFlag(FLAGS_config));
  if (!config.ok()) return Fail(config.status());
  const std::string out = absl::GetFlag(FLAGS_out);
  if (std::filesystem::exists(out)) {
    return Fail(absl::AlreadyExistsError(absl::StrCat(out, " already exists; choose a new --out")));
  }
  torch::manual_seed(absl::GetFlag(FLAGS_seed));
  core::Gpt model(*config);
  absl::Status saved = core::SaveCheckpoint(out, *model, nullptr, dtype);
  if (!saved.ok()) return Fail(saved);
  std::cout << "wrote " << out << " (" << config->NumParameters() << " parameters, " << dtype_name << ")\n";
  return 0;
}

int Inspect(const std::string& dir) {
  auto model = core::LoadModel(dir);
  if (!model.ok()) return Fail(model.status());
  const core::GptConfig& c = (*model)->config();
  auto weights = core::SafetensorsFile::Open(dir + "/" + core::kWeightsFile);
  std::cout << "checkpoint  " << dir << "\n"
            << "shape       n_layer=" << c.n_layer << " n_head=" << c.n_head << " n_embd=" << c.n_embd
            << " n_positions=" << c.n_positions << " vocab_size=" << c.vocab_size << "\n"
            << "parameters  " << c.NumParameters() << "\n"
            << "weights     " << weights->entries().size() << " tensors, "
            << core::DtypeName(weights->entries().front().dtype) << ", "
            << std::filesystem::file_size(dir + "/" + core::kWeightsFile) << " bytes\n";
  // Loss of the untrained/trained model on a fixed pseudo-random sequence: ln(V) for a uniform
  // predictor, so a number far from it shows the weights are not random.
  torch::manual_seed(1234);
  c10::InferenceMode guard;
  const int64_t len = std::min<int64_t>(c.n_positions, 128);
  auto ids = torch::randint(0, c.vocab_size, {1, len}, torch::kInt64);
  auto logits = (*model)->forward(ids.narrow(1, 0, len - 1));
  const double loss = core::CrossEntropyLoss(logits, ids.narrow(1, 1, len - 1)).item<double>();
  std::printf("loss        %.4f on %lld random tokens (uniform predictor: %.4f)\n", loss,
              static_cast<long long>(len), std::log(static_cast<double>(c.vocab_size)));
  return 0;
}

}  // namespace
}  // namespace plume

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("plume-model init --config FILE --out DIR | plume-model inspect DIR");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  plume::core::ConfigureTorchThreads(absl::GetFlag(FLAGS_threads));
  if (args.size() == 2 && std::string(args[1]) == "init") return plume::Init();
  if (args.size() == 3 && std::string(args[1]) == "inspect") return plume::Inspect(args[2]);
  std::cerr << "usage: plume-model init --config FILE --out DIR | plume-model inspect DIR\n";
  return 2;
}
