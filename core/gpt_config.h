// Shape and hyper-parameters of a GPT-2 style model, read from YAML or Hugging Face config.json.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plume::core {

class YamlFields;

struct GptConfig {
  int n_layer = 12;                  // transformer blocks
  int n_head = 12;                   // attention heads; must divide n_embd
  int n_embd = 768;                  // model width (C)
  int n_positions = 1024;            // maximum context length (learned position embeddings)
  int vocab_size = 50257;            // token embedding rows; the LM head is tied to them
  double layer_norm_epsilon = 1e-5;  // LayerNorm epsilon
  double dropout = 0.0;              // dropout on embeddings, attention and residuals; 0 = off
  bool bias = true;                  // biases in Linear and LayerNorm layers (GPT-2: true)

  int head_dim() const { return n_embd / n_head; }

  // Rejects impossible shapes with a message naming the field.
  absl::Status Validate() const;

  // Parses a YAML mapping with the field names above. Unknown keys are an error naming the key
  // and its line. `source` names the origin in error messages.
  static absl::StatusOr<GptConfig> FromYaml(absl::string_view yaml_text,
                                            absl::string_view source = "<yaml>");
  static absl::StatusOr<GptConfig> FromYamlFile(const std::string& path);
  // Reads the keys above from an already-parsed mapping (e.g. a training recipe's `model:`),
  // then validates. Unknown keys are reported by the mapping's Finish().
  static absl::StatusOr<GptConfig> FromYamlFields(YamlFields& fields);

  // Hugging Face GPT-2 `config.json` (keys n_layer n_head n_embd n_positions vocab_size
  // layer_norm_epsilon, optional resid_pdrop, model_type "gpt2"). Unknown HF keys are ignored,
  // as transformers does.
  static absl::StatusOr<GptConfig> FromHfJson(absl::string_view json_text,
                                              absl::string_view source = "config.json");
  static absl::StatusOr<GptConfig> FromHfJsonFile(const std::string& path);
  std::string ToHfJson() const;

  // Parameter count with the LM head tied to the token embedding.
  long long NumParameters() const;

  bool operator==(const GptConfig&) const = default;
};

}  // namespace plume::core
