#include "trainer/train_config.h"

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/status_macros.h"
#include "core/yaml_fields.h"
#include "nlohmann/json.hpp"

namespace plume::trainer {

absl::StatusOr<CorpusFormat> ParseCorpusFormat(absl::string_view name) {
  if (name == "auto") return CorpusFormat::kAuto;
  if (name == "text") return CorpusFormat::kText;
  if (name == "jsonl") return CorpusFormat::kJsonl;
  if (name == "prompt_completion") return CorpusFormat::kPromptCompletion;
  return absl::InvalidArgumentError(
      absl::StrCat("format '", name, "' is not one of auto, text, jsonl, prompt_completion"));
}

const char* CorpusFormatName(CorpusFormat format) {
  switch (format) {
    case CorpusFormat::kAuto: return "auto";
    case CorpusFormat::kText: return "text";
    case CorpusFormat::kJsonl: return "jsonl";
    case CorpusFormat::kPromptCompletion: return "prompt_completion";
  }
  return "?";
}

absl::StatusOr<TrainConfig> TrainConfig::FromYaml(absl::string_view text, absl::string_view source) {
  using core::YamlFields;
  ASSIGN_OR_RETURN(YamlFields root, YamlFields::Parse(text, source));
  TrainConfig c;
  RETURN_IF_ERROR(root.Read("init", &c.init));
  if (root.Has("model")) {
    ASSIGN_OR_RETURN(YamlFields model, root.Child("model"));
    ASSIGN_OR_RETURN(c.model, core::GptConfig::FromYamlFields(model));
    RETURN_IF_ERROR(model.Finish());
  }
  RETURN_IF_ERROR(root.Read("tokenizer", &c.tokenizer));
  RETURN_IF_ERROR(root.Read("output_dir", &c.output_dir));

  ASSIGN_OR_RETURN(YamlFields data, root.Child("data"));
  RETURN_IF_ERROR(data.ReadStringList("train", &c.data.train));
  RETURN_IF_ERROR(data.ReadStringList("validation", &c.data.validation));
  std::string format = "auto";
  RETURN_IF_ERROR(data.Read("format", &format));
  absl::StatusOr<CorpusFormat> parsed = ParseCorpusFormat(format);
  if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat(data.Where("format"), ": data.", parsed.status().message()));
  c.data.format = *parsed;
  RETURN_IF_ERROR(data.Read("text_field", &c.data.text_field));
  RETURN_IF_ERROR(data.Read("prompt_field", &c.data.prompt_field));
  RETURN_IF_ERROR(data.Read("completion_field", &c.data.completion_field));
  RETURN_IF_ERROR(data.Read("document_separator", &c.data.document_separator));
  RETURN_IF_ERROR(data.Read("validation_fraction", &c.data.validation_fraction));
  RETURN_IF_ERROR(data.Read("split_seed", &c.data.split_seed));
  RETURN_IF_ERROR(data.Read("replace_invalid_utf8", &c.data.replace_invalid_utf8));
  RETURN_IF_ERROR(data.Read("cache_dir", &c.data.cache_dir));
  RETURN_IF_ERROR(data.Finish());

  ASSIGN_OR_RETURN(YamlFields training, root.Child("training"));
  RETURN_IF_ERROR(training.Read("seq_len", &c.seq_len));
  RETURN_IF_ERROR(training.Read("batch_size", &c.batch_size));
  RETURN_IF_ERROR(training.Read("grad_accum", &c.grad_accum));
  RETURN_IF_ERROR(training.Read("max_steps", &c.max_steps));
  RETURN_IF_ERROR(training.Read("seed", &c.seed));
  RETURN_IF_ERROR(training.Read("threads", &c.threads));
  RETURN_IF_ERROR(training.Finish());

  ASSIGN_OR_RETURN(YamlFields optim, root.Child("optimizer"));
  RETURN_IF_ERROR(optim.Read("name", &c.optimizer));
  RETURN_IF_ERROR(optim.Read("lr", &c.schedule.peak_lr));
  std::vector<double> betas = {c.adam.beta1, c.adam.beta2};
  RETURN_IF_ERROR(optim.Read("betas", &betas));
  if (betas.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(optim.Where("betas"), ": optimizer.betas must be [beta1, beta2]"));
  }
  c.adam.beta1 = betas[0];
  c.adam.beta2 = betas[1];
  RETURN_IF_ERROR(optim.Read("eps", &c.adam.eps));
  RETURN_IF_ERROR(optim.Read("weight_decay", &c.adam.weight_decay));
  RETURN_IF_ERROR(optim.Read("grad_clip", &c.grad_clip));
  RETURN_IF_ERROR(optim.Finish());
  c.adam.decoupled_weight_decay = c.optimizer == "adamw";

  ASSIGN_OR_RETURN(YamlFields schedule, root.Child("schedule"));
  std::string kind = std::string(ScheduleKindName(c.schedule.kind));
  RETURN_IF_ERROR(schedule.Read("kind", &kind));
  absl::StatusOr<ScheduleKind> parsed_kind = ParseScheduleKind(kind);
  if (!parsed_kind.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(schedule.Where("kind"), ": ", parsed_kind.status().message()));
  }
  c.schedule.kind = *parsed_kind;
  RETURN_IF_ERROR(schedule.Read("warmup_steps", &c.schedule.warmup_steps));
  RETURN_IF_ERROR(schedule.Read("decay_steps", &c.schedule.decay_steps));
  RETURN_IF_ERROR(schedule.Read("min_lr_ratio", &c.schedule.min_lr_ratio));
  RETURN_IF_ERROR(schedule.Finish());

  ASSIGN_OR_RETURN(YamlFields eval, root.Child("eval"));
  RETURN_IF_ERROR(eval.Read("every", &c.eval_every));
  RETURN_IF_ERROR(eval.Read("batches", &c.eval_batches));
  RETURN_IF_ERROR(eval.Finish());

  ASSIGN_OR_RETURN(YamlFields checkpoint, root.Child("checkpoint"));
  RETURN_IF_ERROR(checkpoint.Read("every", &c.checkpoint_every));
  RETURN_IF_ERROR(checkpoint.Read("keep_last", &c.keep_last));
  RETURN_IF_ERROR(checkpoint.Read("keep_best", &c.keep_best));
  RETURN_IF_ERROR(checkpoint.Finish());

  ASSIGN_OR_RETURN(YamlFields log, root.Child("log"));
  RETURN_IF_ERROR(log.Read("every", &c.log_every));
  RETURN_IF_ERROR(log.Finish());
  RETURN_IF_ERROR(root.Finish());
  return c;
}

absl::StatusOr<TrainConfig> TrainConfig::FromYamlFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, core::ReadFile(path));
  return FromYaml(text, path);
}

absl::Status TrainConfig::Validate() const {
  auto bad = [](absl::string_view key, auto value, absl::string_view rule) {
    return absl::InvalidArgumentError(absl::StrCat(key, "=", value, " ", rule));
  };
  if (init.empty() && !model) {
    return absl::InvalidArgumentError("set either `init` (a checkpoint to fine-tune) or `model` (a shape to pre-train)");
  }
  if (output_dir.empty()) return absl::InvalidArgumentError("output_dir is not set");
  if (data.train.empty()) return absl::InvalidArgumentError("data.train lists no corpus");
  if (!(data.validation_fraction >= 0 && data.validation_fraction < 1)) {
    return bad("data.validation_fraction", data.validation_fraction, "must be in [0, 1)");
  }
  if (data.validation.empty() && data.validation_fraction == 0 && eval_every > 0) {
    return absl::InvalidArgumentError("no validation data: set data.validation or data.validation_fraction > 0");
  }
  if (seq_len < 2) return bad("training.seq_len", seq_len, "must be >= 2");
  if (model && seq_len > model->n_positions) {
    return absl::InvalidArgumentError(absl::StrCat("training.seq_len=", seq_len,
                                                   " exceeds the model's n_positions=", model->n_positions));
  }
  if (batch_size < 1) return bad("training.batch_size", batch_size, "must be >= 1");
  if (grad_accum < 1) return bad("training.grad_accum", grad_accum, "must be >= 1");
  if (max_steps < 1) return bad("training.max_steps", max_steps, "must be >= 1");
  if (threads < 0) return bad("training.threads", threads, "must be >= 0");
  if (optimizer != "adamw" && optimizer != "adam") {
    return absl::InvalidArgumentError(absl::StrCat("optimizer.name '", optimizer, "' is not one of adamw, adam"));
  }
  RETURN_IF_ERROR(adam.Validate());
  if (grad_clip < 0) return bad("optimizer.grad_clip", grad_clip, "must be >= 0 (0 = off)");
  RETURN_IF_ERROR(schedule.Validate());
  if (eval_every < 0) return bad("eval.every", eval_every, "must be >= 0");
  if (eval_batches < 0) return bad("eval.batches", eval_batches, "must be >= 0");
  if (checkpoint_every < 0) return bad("checkpoint.every", checkpoint_every, "must be >= 0");
  if (keep_last < 1) return bad("checkpoint.keep_last", keep_last, "must be >= 1");
  if (log_every < 1) return bad("log.every", log_every, "must be >= 1");
  return absl::OkStatus();
}

std::string TrainConfig::IdentityJson() const {
  nlohmann::ordered_json j;
  j["init"] = init;
  j["model"] = model ? nlohmann::json::parse(model->ToHfJson()) : nlohmann::json();
  j["tokenizer"] = tokenizer;
  j["data"] = {{"train", data.train}, {"validation", data.validation},
               {"format", CorpusFormatName(data.format)}, {"text_field", data.text_field},
               {"prompt_field", data.prompt_field}, {"completion_field", data.completion_field},
               {"document_separator", data.document_separator},
               {"validation_fraction", data.validation_fraction}, {"split_seed", data.split_seed},
               {"replace_invalid_utf8", data.replace_invalid_utf8}};
  j["training"] = {{"seq_len", seq_len}, {"batch_size", batch_size}, {"grad_accum", grad_accum}, {"seed", seed}};
  j["optimizer"] = {{"name", optimizer}, {"beta1", adam.beta1}, {"beta2", adam.beta2}, {"eps", adam.eps},
                    {"weight_decay", adam.weight_decay}, {"grad_clip", grad_clip}};
  j["schedule"] = {{"kind", ScheduleKindName(schedule.kind).data()}, {"lr", schedule.peak_lr},
                   {"warmup_steps", schedule.warmup_steps}, {"decay_steps", schedule.decay_steps},
                   {"min_lr_ratio", schedule.min_lr_ratio}};
  return j.dump();
}

}  // namespace plume::trainer
