#include "core/gpt_config.h"

#include <cmath>
#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/status_macros.h"
#include "core/yaml_fields.h"
#include "nlohmann/json.hpp"

namespace plume::core {
absl::Status GptConfig::Validate() const {
  auto bad = [](absl::string_view field, auto value, absl::string_view rule) {
    return absl::InvalidArgumentError(
        absl::StrCat("model config: ", field, "=", value, " ", rule));
  };
  if (n_layer < 1 || n_layer > 1024) return bad("n_layer", n_layer, "must be in [1, 1024]");
  if (n_head < 1) return bad("n_head", n_head, "must be >= 1");
  if (n_embd < 1 || n_embd > 65536) return bad("n_embd", n_embd, "must be in [1, 65536]");
  if (n_embd % n_head != 0) {
    return absl::InvalidArgumentError(absl::StrCat("model config: n_embd=", n_embd,
                                                   " must be divisible by n_head=", n_head));
  }
  if (n_positions < 1 || n_positions > (1 << 20)) {
    return bad("n_positions", n_positions, "must be in [1, 1048576]");
  }
  if (vocab_size < 1 || vocab_size > (1 << 24)) {
    return bad("vocab_size", vocab_size, "must be in [1, 16777216]");
  }
  if (!(layer_norm_epsilon > 0 && layer_norm_epsilon < 1)) {
    return bad("layer_norm_epsilon", layer_norm_epsilon, "must be in (0, 1)");
  }
  if (!(dropout >= 0 && dropout < 1)) return bad("dropout", dropout, "must be in [0, 1)");
  return absl::OkStatus();
}

absl::StatusOr<GptConfig> GptConfig::FromYaml(absl::string_view yaml_text,
                                              absl::string_view source) {
  ASSIGN_OR_RETURN(YamlFields fields, YamlFields::Parse(yaml_text, source));
  ASSIGN_OR_RETURN(GptConfig config, FromYamlFields(fields));
  RETURN_IF_ERROR(fields.Finish());
  return config;
}

absl::StatusOr<GptConfig> GptConfig::FromYamlFields(YamlFields& fields) {
  GptConfig config;
  RETURN_IF_ERROR(fields.Read("n_layer", &config.n_layer));
  RETURN_IF_ERROR(fields.Read("n_head", &config.n_head));
  RETURN_IF_ERROR(fields.Read("n_embd", &config.n_embd));
  RETURN_IF_ERROR(fields.Read("n_positions", &config.n_positions));
  RETURN_IF_ERROR(fields.Read("vocab_size", &config.vocab_size));
  RETURN_IF_ERROR(fields.Read("layer_norm_epsilon", &config.layer_norm_epsilon));
  RETURN_IF_ERROR(fields.Read("dropout", &config.dropout));
  RETURN_IF_ERROR(fields.Read("bias", &config.bias));
  absl::Status valid = config.Validate();
  if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat(fields.source(), ": ", valid.message()));
  return config;
}

absl::StatusOr<GptConfig> GptConfig::FromYamlFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return FromYaml(text, path);
}

absl::StatusOr<GptConfig> GptConfig::FromHfJson(absl::string_view json_text,
                                                absl::string_view source) {
  const nlohmann::json json = nlohmann::json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON"));
  }
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": must be a JSON object"));
  }
  if (json.contains("model_type") &&
      (!json["model_type"].is_string() || json["model_type"].get<std::string>() != "gpt2")) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": model_type=", json["model_type"].dump(), " is not supported (expected \"gpt2\")"));
  }
  GptConfig config;
  auto read_int = [&](const char* key, int* out, bool required) -> absl::Status {
    if (!json.contains(key)) {
      if (required) return absl::InvalidArgumentError(absl::StrCat(source, ": missing key '", key, "'"));
      return absl::OkStatus();
    }
    const auto& v = json[key];
    if (!v.is_number_integer()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": key '", key, "' must be an integer, got ", v.dump()));
    }
    const long long value = v.get<long long>();
    if (value < 0 || value > (1LL << 30)) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": key '", key, "' is out of range: ", value));
    }
    *out = static_cast<int>(value);
    return absl::OkStatus();
  };
  auto read_double = [&](const char* key, double* out) -> absl::Status {
    if (!json.contains(key) || json[key].is_null()) return absl::OkStatus();
    if (!json[key].is_number()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": key '", key, "' must be a number, got ", json[key].dump()));
    }
    *out = json[key].get<double>();
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(read_int("n_layer", &config.n_layer, true));
  RETURN_IF_ERROR(read_int("n_head", &config.n_head, true));
  RETURN_IF_ERROR(read_int("n_embd", &config.n_embd, true));
  RETURN_IF_ERROR(read_int("n_positions", &config.n_positions, true));
  RETURN_IF_ERROR(read_int("vocab_size", &config.vocab_size, true));
  RETURN_IF_ERROR(read_double("layer_norm_epsilon", &config.layer_norm_epsilon));
  RETURN_IF_ERROR(read_double("resid_pdrop", &config.dropout));
  if (json.contains("bias")) {
    if (!json["bias"].is_boolean()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": key 'bias' must be a boolean"));
    }
    config.bias = json["bias"].get<bool>();
  }
  // Plume's own GPT-2 architecture is fixed: refuse HF variants it does not implement.
  if (json.contains("activation_function") && json["activation_function"] != "gelu_new") {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": activation_function=", json["activation_function"].dump(),
                     " is not supported (GPT-2 uses \"gelu_new\")"));
  }
  if (json.contains("n_inner") && !json["n_inner"].is_null() &&
      json["n_inner"] != 4 * config.n_embd) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": n_inner=", json["n_inner"].dump(),
                                                   " is not supported (must be 4*n_embd)"));
  }
  absl::Status valid = config.Validate();
  if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat(source, ": ", valid.message()));
  return config;
}

absl::StatusOr<GptConfig> GptConfig::FromHfJsonFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return FromHfJson(text, path);
}

std::string GptConfig::ToHfJson() const {
  nlohmann::ordered_json json;
  json["model_type"] = "gpt2";
  json["architectures"] = {"GPT2LMHeadModel"};
  json["n_layer"] = n_layer;
  json["n_head"] = n_head;
  json["n_embd"] = n_embd;
  json["n_positions"] = n_positions;
  json["n_ctx"] = n_positions;
  json["vocab_size"] = vocab_size;
  json["layer_norm_epsilon"] = layer_norm_epsilon;
  json["activation_function"] = "gelu_new";
  json["n_inner"] = nullptr;
  json["resid_pdrop"] = dropout;
  json["embd_pdrop"] = dropout;
  json["attn_pdrop"] = dropout;
  json["initializer_range"] = 0.02;
  json["tie_word_embeddings"] = true;
  json["scale_attn_weights"] = true;
  json["bias"] = bias;
  json["torch_dtype"] = "float32";
  return json.dump(2) + "\n";
}

long long GptConfig::NumParameters() const {
  const long long c = n_embd;
  const long long ln = bias ? 2 * c : c;
  const long long linear_bias = bias ? 1 : 0;
  const long long block = ln + (c * 3 * c + linear_bias * 3 * c) + (c * c + linear_bias * c) + ln +
                          (c * 4 * c + linear_bias * 4 * c) + (4 * c * c + linear_bias * c);
  return static_cast<long long>(vocab_size) * c + static_cast<long long>(n_positions) * c +
         n_layer * block + ln;
}

}  // namespace plume::core
