#include "services/served_model.h"

#include <condition_variable>
#include <filesystem>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "core/checkpoint.h"
#include "core/status_macros.h"

namespace plume::services {

absl::StatusOr<inference::Vocabulary> VocabularyFromTokenizer(const core::Tokenizer& tokenizer) {
  std::vector<std::string> bytes;
  std::vector<int32_t> special;
  bytes.reserve(tokenizer.vocab_size());
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    bytes.emplace_back(tokenizer.TokenBytes(id));
    if (tokenizer.IsSpecial(id)) special.push_back(id);
  }
  return inference::Vocabulary::Create(std::move(bytes), special, tokenizer.eos_id());
}

absl::StatusOr<std::unique_ptr<ServedModel>> LoadServedModel(
    const std::string& checkpoint, const std::string& name,
    const inference::EngineOptions& options) {
  std::string served_name = name;
  if (served_name.empty()) {
    std::filesystem::path path = std::filesystem::path(checkpoint).lexically_normal();
    if (!path.has_filename()) path = path.parent_path();  // "dir/" -> "dir"
    served_name = path.filename().string();
  }
  ASSIGN_OR_RETURN(core::GptConfig config, core::LoadCheckpointConfig(checkpoint));
  absl::StatusOr<core::Tokenizer> tokenizer = core::Tokenizer::FromDirectory(checkpoint);
  if (!tokenizer.ok()) {
    return absl::Status(tokenizer.status().code(),
                        absl::StrCat(tokenizer.status().message(),
                                     "\n---> HINT: a servable checkpoint holds its tokenizer "
                                     "(tokenizer.json, or vocab.json + merges.txt) beside "
                                     "config.json; plume-train checkpoints do"));
  }
  if (tokenizer->vocab_size() > config.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        checkpoint, ": the tokenizer has ", tokenizer->vocab_size(),
        " tokens but the model only ", config.vocab_size,
        " embeddings\n---> HINT: the tokenizer files do not belong to this model"));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<core::GptImpl> model, core::LoadModel(checkpoint));
  ASSIGN_OR_RETURN(inference::Vocabulary vocab, VocabularyFromTokenizer(*tokenizer));
  ASSIGN_OR_RETURN(std::unique_ptr<inference::Engine> engine,
                   inference::Engine::Create(std::move(model), std::move(vocab), options));
  return std::make_unique<ServedModel>(ServedModel{std::move(served_name), checkpoint, config,
                                                   *std::move(tokenizer), std::move(engine)});
}

absl::Status WarmUp(inference::Engine& engine, absl::Duration timeout) {
  struct WaitSink : inference::TokenSink {
    void OnDelta(const inference::Delta&) override {}
    void OnFinish(const inference::Result& result) override {
      std::lock_guard<std::mutex> lock(mu);
      status = result.status;
      done = true;
      cv.notify_all();
    }
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    absl::Status status;
  };
  auto sink = std::make_shared<WaitSink>();
  inference::Request request;
  request.prompt = {engine.vocab().eos_id().value_or(0)};
  request.params.temperature = 0;
  request.params.max_tokens = 1;
  RETURN_IF_ERROR(engine.Submit(std::move(request), sink).status());
  std::unique_lock<std::mutex> lock(sink->mu);
  if (!sink->cv.wait_for(lock, absl::ToChronoSeconds(timeout), [&] { return sink->done; })) {
    return absl::DeadlineExceededError(
        absl::StrCat("the warm-up request did not finish within ", absl::FormatDuration(timeout)));
  }
  return sink->status;
}

}  // namespace plume::services
