// Checkpoint directories in the Hugging Face GPT-2 layout:
//   config.json        GPT-2 keys (n_layer n_head n_embd n_positions vocab_size ...)
//   model.safetensors  "transformer.h.0.attn.c_attn.weight" ... (Conv1D weights [in, out];
//                      lm_head tied to wte and stored once)
//   tokenizer files    written by the caller beside them (vocab.json, merges.txt, tokenizer.json)
// Loading accepts both HF naming styles ("h.0..." and "transformer.h.0..."), ignores the
// attention-mask buffers (attn.bias, attn.masked_bias) and reads F32, F16 and BF16 data.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/gpt_config.h"
#include "core/safetensors.h"

namespace plume::core {

class GptImpl;

inline constexpr char kConfigFile[] = "config.json";
inline constexpr char kWeightsFile[] = "model.safetensors";

// Writes config.json and model.safetensors into the existing directory `dir` (not atomic by
// itself). `dtype` is F32, F16 or BF16.
absl::Status WriteModelFiles(const std::string& dir, GptImpl& model,
                             SafetensorsDtype dtype = SafetensorsDtype::kF32);

// Writes a complete checkpoint directory atomically: the model files plus whatever `extra`
// writes into the temporary directory it is given (tokenizer files, trainer state). An existing
// directory at `dir` is replaced as a whole.
using ExtraFilesWriter = std::function<absl::Status(const std::string& temp_dir)>;
absl::Status SaveCheckpoint(const std::string& dir, GptImpl& model,
                            const ExtraFilesWriter& extra = nullptr,
                            SafetensorsDtype dtype = SafetensorsDtype::kF32);

// Reads and validates `dir`/config.json.
absl::StatusOr<GptConfig> LoadCheckpointConfig(const std::string& dir);

// Copies the weights of `file` into `model`, converting dtype and layout. Every parameter must be
// present with the shape the model's config implies; unknown tensors are an error.
absl::Status LoadWeights(const SafetensorsFile& file, GptImpl& model);

// Builds a float32 model from a checkpoint directory (config.json + model.safetensors).
absl::StatusOr<std::shared_ptr<GptImpl>> LoadModel(const std::string& dir);

}  // namespace plume::core
