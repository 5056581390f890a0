#include "trainer/run_checkpoints.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/atomic_directory.h"
#include "core/checkpoint.h"
#include "core/file_io.h"
#include "core/gpt.h"
#include "core/safetensors.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"

namespace plume::trainer {
namespace fs = std::filesystem;
namespace {

constexpr char kRngTensor[] = "rng.torch_cpu";

absl::Status WriteOptimizerState(const std::string& path, const AdamOptimizer& optimizer) {
  std::vector<torch::Tensor> keep;
  std::vector<core::SafetensorsTensorRef> refs;
  for (const auto& [name, tensor] : optimizer.StateTensors()) {
    keep.push_back(tensor.contiguous());
    refs.push_back({name, core::SafetensorsDtype::kF32, keep.back().sizes().vec(),
                    keep.back().data_ptr(), static_cast<size_t>(keep.back().nbytes())});
  }
  auto generator = at::detail::getDefaultCPUGenerator();
  torch::Tensor rng;
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    rng = generator.get_state();
  }
  keep.push_back(rng.contiguous());
  refs.push_back({kRngTensor, core::SafetensorsDtype::kU8, rng.sizes().vec(), keep.back().data_ptr(),
                  static_cast<size_t>(keep.back().nbytes())});
  return core::WriteSafetensors(path, refs, {{"format", "plume-adam"}, {"step", std::to_string(optimizer.step())}});
}

}  // namespace

std::string TrainerState::ToJson() const {
  nlohmann::ordered_json j;
  j["step"] = step;
  j["samples"] = samples;
  j["tokens"] = tokens;
  j["val_loss"] = val_loss ? nlohmann::json(*val_loss) : nlohmann::json();
  j["best_val_loss"] = best_val_loss ? nlohmann::json(*best_val_loss) : nlohmann::json();
  j["best_step"] = best_step;
  j["elapsed_seconds"] = elapsed_seconds;
  j["identity"] = identity;
  return j.dump(2) + "\n";
}

absl::StatusOr<TrainerState> TrainerState::FromJson(absl::string_view json, absl::string_view source) {
  const auto j = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError(absl::StrCat(source, ": not a JSON object"));
  TrainerState s;
  try {
    s.step = j.at("step").get<int64_t>();
    s.samples = j.at("samples").get<int64_t>();
    s.tokens = j.at("tokens").get<int64_t>();
    if (!j.at("val_loss").is_null()) s.val_loss = j["val_loss"].get<double>();
    if (!j.at("best_val_loss").is_null()) s.best_val_loss = j["best_val_loss"].get<double>();
    s.best_step = j.at("best_step").get<int64_t>();
    s.elapsed_seconds = j.at("elapsed_seconds").get<double>();
    s.identity = j.at("identity").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat(source, ": ", e.what()));
  }
  return s;
}

RunCheckpoints::RunCheckpoints(std::string run_dir) : root_(std::move(run_dir) + "/checkpoints") {}

std::string RunCheckpoints::DirFor(int64_t step) const {
  return absl::StrFormat("%s/step-%08d", root_, step);
}

absl::Status RunCheckpoints::Save(core::GptImpl& model, const AdamOptimizer& optimizer,
                                  const core::Tokenizer& tokenizer, const TrainerState& state) const {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", root_, ": ", ec.message()));
  return core::SaveCheckpoint(DirFor(state.step), model, [&](const std::string& dir) -> absl::Status {
    RETURN_IF_ERROR(tokenizer.SaveToDirectory(dir));
    RETURN_IF_ERROR(WriteOptimizerState(dir + "/" + kOptimizerStateFile, optimizer));
    return core::WriteFileDurably(dir + "/" + kTrainerStateFile, state.ToJson());
  });
}

std::vector<CheckpointInfo> RunCheckpoints::List() const {
  std::vector<CheckpointInfo> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.rfind("step-", 0) != 0 || core::AtomicDirectory::IsTemporaryName(name)) continue;
    const std::string state_path = entry.path().string() + "/" + kTrainerStateFile;
    absl::StatusOr<std::string> text = core::ReadFile(state_path);
    if (!text.ok()) continue;
    absl::StatusOr<TrainerState> state = TrainerState::FromJson(*text, state_path);
    if (!state.ok()) continue;
    out.push_back({entry.path().string(), *state});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.state.step < b.state.step; });
  return out;
}

absl::Status RunCheckpoints::Prune(int keep_last, bool keep_best) const {
  // Leftovers of writes or deletions a crash interrupted (one writer per run: none is live now).
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    if (core::AtomicDirectory::IsTemporaryName(entry.path().filename().string())) fs::remove_all(entry.path(), ec);
  }
  std::vector<CheckpointInfo> all = List();
  const CheckpointInfo* best = nullptr;
  for (const auto& c : all) {
    if (c.state.val_loss && (best == nullptr || *c.state.val_loss < *best->state.val_loss)) best = &c;
  }
  for (size_t i = 0; i + keep_last < all.size(); ++i) {
    if (keep_best && best == &all[i]) continue;
    // Rename first so a crash mid-delete never leaves a partial directory under a valid name.
    const std::string doomed = all[i].dir + ".tmp-delete";
    fs::rename(all[i].dir, doomed, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot remove ", all[i].dir, ": ", ec.message()));
    fs::remove_all(doomed, ec);
  }
  return absl::OkStatus();
}

absl::Status RunCheckpoints::Restore(const CheckpointInfo& checkpoint, core::GptImpl& model,
                                     AdamOptimizer& optimizer) const {
  ASSIGN_OR_RETURN(core::SafetensorsFile weights, core::SafetensorsFile::Open(checkpoint.dir + "/" + core::kWeightsFile));
  RETURN_IF_ERROR(core::LoadWeights(weights, model));
  ASSIGN_OR_RETURN(core::SafetensorsFile state, core::SafetensorsFile::Open(checkpoint.dir + "/" + kOptimizerStateFile));
  NamedTensors tensors;
  torch::Tensor rng;
  for (const auto& entry : state.entries()) {
    const auto bytes = state.Data(entry);
    if (entry.name == kRngTensor) {
      rng = torch::empty(entry.shape, torch::kUInt8);
      std::memcpy(rng.data_ptr(), bytes.data(), bytes.size());
      continue;
    }
    if (entry.dtype != core::SafetensorsDtype::kF32) {
      return absl::DataLossError(absl::StrCat(state.path(), ": '", entry.name, "' is not F32"));
    }
    auto t = torch::empty(entry.shape, torch::kFloat32);
    std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
    tensors.emplace_back(entry.name, t);
  }
  if (!rng.defined()) return absl::DataLossError(absl::StrCat(state.path(), ": no RNG state"));
  int64_t optimizer_step = checkpoint.state.step;
  if (auto it = state.metadata().find("step"); it != state.metadata().end()) {
    optimizer_step = std::strtoll(it->second.c_str(), nullptr, 10);
  }
  RETURN_IF_ERROR(optimizer.LoadState(tensors, optimizer_step));
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(rng);
  return absl::OkStatus();
}

}  // namespace plume::trainer
