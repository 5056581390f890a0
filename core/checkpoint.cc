#include "core/checkpoint.h"

#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/atomic_directory.h"
#include "core/file_io.h"
#include "core/gpt.h"
#include "core/status_macros.h"

namespace plume::core {
namespace {

constexpr char kHfPrefix[] = "transformer.";

// GPT-2's Conv1D layers store weights [in, out]; ours are torch Linear [out, in].
bool IsConv1DWeight(absl::string_view name) {
  return absl::EndsWith(name, ".weight") &&
         (absl::StrContains(name, ".c_attn.") || absl::StrContains(name, ".c_proj.") ||
          absl::StrContains(name, ".c_fc."));
}

// Attention-mask buffers that old and new transformers versions save; not weights.
bool IsIgnoredBuffer(absl::string_view name) {
  return absl::EndsWith(name, ".attn.bias") || absl::EndsWith(name, ".attn.masked_bias");
}

torch::ScalarType TorchType(SafetensorsDtype dtype) {
  switch (dtype) {
    case SafetensorsDtype::kF32: return torch::kFloat32;
    case SafetensorsDtype::kF16: return torch::kFloat16;
    case SafetensorsDtype::kBF16: return torch::kBFloat16;
    case SafetensorsDtype::kF64: return torch::kFloat64;
    default: return torch::kUInt8;  // unreachable for accepted weight dtypes
  }
}

std::string ShapeString(c10::IntArrayRef shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

}  // namespace

absl::Status WriteModelFiles(const std::string& dir, GptImpl& model, SafetensorsDtype dtype) {
  if (dtype != SafetensorsDtype::kF32 && dtype != SafetensorsDtype::kF16 &&
      dtype != SafetensorsDtype::kBF16) {
    return absl::InvalidArgumentError(absl::StrCat("cannot save weights as ", DtypeName(dtype)));
  }
  RETURN_IF_ERROR(WriteFileDurably(dir + "/" + kConfigFile, model.config().ToHfJson()));
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> keep_alive;
  std::vector<SafetensorsTensorRef> refs;
  for (const auto& item : model.named_parameters()) {
    torch::Tensor t = item.value().detach();
    if (IsConv1DWeight(item.key())) t = t.t();
    t = t.to(TorchType(dtype)).contiguous();
    keep_alive.push_back(t);
    refs.push_back({kHfPrefix + item.key(), dtype, t.sizes().vec(), t.data_ptr(),
                    static_cast<size_t>(t.nbytes())});
  }
  return WriteSafetensors(dir + "/" + kWeightsFile, refs, {{"format", "pt"}});
}

absl::Status SaveCheckpoint(const std::string& dir, GptImpl& model, const ExtraFilesWriter& extra,
                            SafetensorsDtype dtype) {
  ASSIGN_OR_RETURN(AtomicDirectory temp, AtomicDirectory::Create(dir));
  RETURN_IF_ERROR(WriteModelFiles(temp.path(), model, dtype));
  if (extra) RETURN_IF_ERROR(extra(temp.path()));
  return temp.Commit();
}

absl::StatusOr<GptConfig> LoadCheckpointConfig(const std::string& dir) {
  if (!std::filesystem::is_directory(dir)) {
    return absl::NotFoundError(absl::StrCat("checkpoint ", dir, " is not a directory"));
  }
  const std::string path = dir + "/" + kConfigFile;
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat(
        "checkpoint ", dir, " has no ", kConfigFile,
        "\n---> HINT: a checkpoint directory holds config.json, model.safetensors and tokenizer files"));
  }
  return GptConfig::FromHfJsonFile(path);
}

absl::Status LoadWeights(const SafetensorsFile& file, GptImpl& model) {
  const GptConfig& config = model.config();
  bool prefixed = false;
  for (const auto& entry : file.entries()) prefixed |= entry.name.starts_with(kHfPrefix);
  const std::string prefix = prefixed ? kHfPrefix : "";
  const std::string hint = absl::StrCat(
      "\n---> HINT: config.json says n_layer=", config.n_layer, " n_head=", config.n_head,
      " n_embd=", config.n_embd, " n_positions=", config.n_positions, " vocab_size=",
      config.vocab_size, "; the weights must come from a model of exactly that shape");

  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  for (auto& item : model.named_parameters()) {
    const std::string name = prefix + item.key();
    torch::Tensor& param = item.value();
    const SafetensorsEntry* entry = file.Find(name);
    if (entry == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(file.path(), ": missing tensor '", name, "'", hint));
    }
    used.insert(name);
    const bool conv1d = IsConv1DWeight(item.key());
    std::vector<int64_t> expected = param.sizes().vec();
    if (conv1d) std::swap(expected[0], expected[1]);
    if (entry->shape != expected) {
      return absl::InvalidArgumentError(absl::StrCat(file.path(), ": tensor '", name, "' has shape ",
                                                     ShapeString(entry->shape), ", expected ",
                                                     ShapeString(expected), hint));
    }
    if (entry->dtype != SafetensorsDtype::kF32 && entry->dtype != SafetensorsDtype::kF16 &&
        entry->dtype != SafetensorsDtype::kBF16 && entry->dtype != SafetensorsDtype::kF64) {
      return absl::InvalidArgumentError(absl::StrCat(file.path(), ": tensor '", name, "' has dtype ",
                                                     DtypeName(entry->dtype),
                                                     "; weights must be F32, F16, BF16 or F64"));
    }
    // Copy out of the mapping first: the data section need not be aligned for the dtype.
    const absl::Span<const uint8_t> bytes = file.Data(*entry);
    torch::Tensor raw = torch::empty(entry->shape, TorchType(entry->dtype));
    std::memcpy(raw.data_ptr(), bytes.data(), bytes.size());
    torch::Tensor value = raw.to(torch::kFloat32);
    if (conv1d) value = value.t();
    if (!torch::isfinite(value).all().item<bool>()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file.path(), ": tensor '", name, "' contains NaN or infinite values"));
    }
    param.copy_(value);
  }
  for (const auto& entry : file.entries()) {
    if (used.contains(entry.name) || IsIgnoredBuffer(entry.name)) continue;
    if (entry.name == "lm_head.weight") {
      // Tied to wte; some writers store it anyway. Accept it when its shape fits.
      if (entry.shape == std::vector<int64_t>{config.vocab_size, config.n_embd}) continue;
    }
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": unexpected tensor '", entry.name, "' with shape ",
                     ShapeString(entry.shape), hint));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<GptImpl>> LoadModel(const std::string& dir) {
  ASSIGN_OR_RETURN(GptConfig config, LoadCheckpointConfig(dir));
  ASSIGN_OR_RETURN(SafetensorsFile weights, SafetensorsFile::Open(dir + "/" + kWeightsFile));
  auto model = std::make_shared<GptImpl>(config, /*initialize=*/false);
  RETURN_IF_ERROR(LoadWeights(weights, *model));
  model->eval();
  return model;
}

}  // namespace plume::core
