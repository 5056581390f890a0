// The model plume-serve serves: the checkpoint's tokenizer, its shape, and the engine that owns
// its weights. Loading validates the checkpoint (shape, weights, tokenizer against the model's
// vocabulary) and says what to do when something does not match; WarmUp runs one real request
// so that the first client does not pay for lazy initialisation.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/gpt_config.h"
#include "core/tokenizer.h"
#include "inference/engine.h"
#include "inference/vocabulary.h"

namespace plume::services {

struct ServedModel {
  std::string name;        // reported by GetModelInfo
  std::string checkpoint;  // the directory it came from
  core::GptConfig config;
  core::Tokenizer tokenizer;
  std::unique_ptr<inference::Engine> engine;
};

// Loads `checkpoint` (config.json, model.safetensors, tokenizer files) and starts an engine
// with `options`. `name` "" = the directory's name.
absl::StatusOr<std::unique_ptr<ServedModel>> LoadServedModel(const std::string& checkpoint,
                                                             const std::string& name,
                                                             const inference::EngineOptions& options);

// The engine's token table from a tokenizer: every id's bytes, its special tokens and EOS.
absl::StatusOr<inference::Vocabulary> VocabularyFromTokenizer(const core::Tokenizer& tokenizer);

// Runs one single-token greedy request through `engine` (a full forward and sampling step) and
// waits for it, at most `timeout`.
absl::Status WarmUp(inference::Engine& engine, absl::Duration timeout);

}  // namespace plume::services
