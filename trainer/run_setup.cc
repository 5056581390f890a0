#include "trainer/run_setup.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/atomic_directory.h"
#include "core/file_io.h"
#include "core/sha256.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"
#include "trainer/corpus.h"
#include "trainer/progress.h"
#include "trainer/run_checkpoints.h"

namespace plume::trainer {
namespace fs = std::filesystem;
namespace {

constexpr int kTokenizerTrainingMaxBytes = 64 << 20;  // text sampled to train a tokenizer

}  // namespace

absl::Status PrepareRunDirectory(const TrainConfig& config, bool resume) {
  const std::string& dir = config.output_dir;
  const std::string run_file = dir + "/" + kRunFile;
  std::error_code ec;
  if (fs::exists(run_file)) {
    ASSIGN_OR_RETURN(std::string text, core::ReadFile(run_file));
    const auto run = nlohmann::json::parse(text, nullptr, false);
    const bool same = run.is_object() && run.contains("identity") && run["identity"] == config.IdentityJson();
    const bool has_checkpoints = !RunCheckpoints(dir).List().empty();
    if (has_checkpoints && !resume) {
      return absl::AlreadyExistsError(absl::StrCat(
          "output directory ", dir, " holds another run; pass --resume to continue it or choose a new --output_dir"));
    }
    if (has_checkpoints && !same) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot resume ", dir, ": its run was started with a different configuration (only max_steps "
          "may change); choose a new --output_dir"));
    }
    if (has_checkpoints || (resume && same)) return absl::OkStatus();
    LogEvent(absl::StrCat("event=restart output_dir=", dir, " reason=no checkpoint from the previous attempt"));
    for (const char* stale : {kRunFile, kMetricsFile, kRunTokenizerDir}) fs::remove_all(dir + "/" + stale, ec);
  } else if (fs::exists(dir) && !fs::is_empty(dir, ec)) {
    return absl::AlreadyExistsError(absl::StrCat("output directory ", dir,
                                                 " is not empty and holds no Plume run; choose a new --output_dir"));
  }
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  nlohmann::ordered_json run;
  run["identity"] = config.IdentityJson();
  run["plume_version"] = PLUME_VERSION;
  run["started_unix"] = std::time(nullptr);
  return core::WriteFileAtomically(run_file, run.dump(2) + "\n");
}

absl::StatusOr<core::Tokenizer> PrepareRunTokenizer(const TrainConfig& config) {
  const std::string dir = config.output_dir + "/" + kRunTokenizerDir;
  if (fs::exists(dir)) return core::Tokenizer::FromDirectory(dir);
  std::optional<core::Tokenizer> tokenizer;
  if (!config.tokenizer.empty()) {
    if (fs::is_directory(config.tokenizer)) {
      ASSIGN_OR_RETURN(tokenizer, core::Tokenizer::FromDirectory(config.tokenizer));
    } else {
      ASSIGN_OR_RETURN(tokenizer, core::Tokenizer::FromTokenizerJson(config.tokenizer));
    }
  } else if (!config.init.empty()) {
    absl::StatusOr<core::Tokenizer> from_init = core::Tokenizer::FromDirectory(config.init);
    if (!from_init.ok()) {
      return absl::Status(from_init.status().code(),
                          absl::StrCat("cannot read the tokenizer of --init ", config.init, ": ",
                                       from_init.status().message(), " (set `tokenizer:` to give one)"));
    }
    tokenizer = std::move(*from_init);
  } else {
    ASSIGN_OR_RETURN(std::vector<std::string> files, ExpandCorpusPaths(config.data.train));
    ASSIGN_OR_RETURN(std::vector<Document> docs, ReadDocuments(files, config.data));
    std::vector<std::string> texts;
    size_t bytes = 0;
    for (auto& doc : docs) {
      if (bytes >= kTokenizerTrainingMaxBytes) break;
      bytes += doc.prompt.size() + doc.text.size();
      if (!doc.prompt.empty()) texts.push_back(std::move(doc.prompt));
      texts.push_back(std::move(doc.text));
    }
    core::BpeTrainerOptions options;
    options.vocab_size = config.model->vocab_size;
    options.threads = config.threads;
    const auto start = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(tokenizer, core::TrainBpe(texts, options));
    LogEvent(absl::StrFormat("event=tokenizer_trained vocab_size=%d corpus_bytes=%d seconds=%.1f",
                        tokenizer->vocab_size(), bytes,
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()));
  }
  ASSIGN_OR_RETURN(core::AtomicDirectory temp, core::AtomicDirectory::Create(dir));
  RETURN_IF_ERROR(tokenizer->SaveToDirectory(temp.path()));
  RETURN_IF_ERROR(temp.Commit());
  return core::Tokenizer::FromDirectory(dir);
}

absl::StatusOr<std::string> TokenizerFingerprint(const std::string& dir) {
  core::Sha256 sha;
  for (const char* name : {"vocab.json", "merges.txt", "tokenizer.json"}) {
    const std::string path = dir + "/" + name;
    if (!fs::exists(path)) continue;
    ASSIGN_OR_RETURN(std::string digest, core::Sha256OfFile(path));
    sha.Update(absl::StrCat(name, ":", digest, "\n"));
  }
  return sha.HexDigest();
}

}  // namespace plume::trainer
