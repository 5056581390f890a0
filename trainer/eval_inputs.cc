#include "trainer/eval_inputs.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/atomic_directory.h"
#include "core/file_io.h"
#include "core/sha256.h"
#include "core/status_macros.h"
#include "trainer/eval_metrics.h"
#include "trainer/run_checkpoints.h"
#include "trainer/run_setup.h"

namespace plume::trainer {
namespace fs = std::filesystem;
namespace {

constexpr char kStepPrefix[] = "step-";

std::optional<int64_t> StepFromName(const std::string& name) {
  int64_t step = 0;
  if (!absl::StartsWith(name, kStepPrefix) ||
      !absl::SimpleAtoi(absl::string_view(name).substr(sizeof(kStepPrefix) - 1), &step)) {
    return std::nullopt;
  }
  return step;
}

// "a/b/" -> "a/b": trailing separators would make filename() empty.
fs::path Normalized(const std::string& dir) {
  fs::path p(dir);
  while (p.has_relative_path() && p.filename().empty()) p = p.parent_path();
  return p;
}

}  // namespace

absl::StatusOr<EvalCorpus> LoadEvalCorpus(const std::string& pattern, const DataConfig& data) {
  EvalCorpus corpus;
  corpus.name = pattern;
  ASSIGN_OR_RETURN(std::vector<std::string> files, ExpandCorpusPaths({pattern}));
  for (const std::string& file : files) {
    ASSIGN_OR_RETURN(std::string digest, core::Sha256OfFile(file));
    corpus.files.push_back({file, digest});
  }
  absl::StatusOr<std::vector<Document>> documents = ReadDocuments(files, data);
  if (!documents.ok()) {
    // The reader speaks of recipe keys; here they are flags.
    return absl::Status(documents.status().code(),
                        absl::StrReplaceAll(documents.status().message(),
                                            {{"set data.replace_invalid_utf8: true", "pass --replace_invalid_utf8"}}));
  }
  corpus.documents = std::move(*documents);
  if (corpus.documents.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "corpus ", pattern, " has no documents (its ", files.size(), " file(s) hold no text",
        data.format == CorpusFormat::kText ? "" : " in the expected field", ")"));
  }
  for (const Document& doc : corpus.documents) {
    corpus.words += CountWords(doc.text);
    corpus.bytes += CountBytes(doc.text);
  }
  return corpus;
}

CheckpointRef DescribeCheckpoint(const std::string& dir) {
  CheckpointRef ref;
  ref.dir = dir;
  const fs::path path = Normalized(dir);
  const std::string name = path.filename().string();
  ref.label = name.empty() ? dir : name;
  ref.step = StepFromName(name);
  const fs::path parent = path.parent_path();
  if (parent.filename() == "checkpoints") {
    const fs::path run = parent.parent_path();
    std::error_code ec;
    if (fs::exists(run / kRunFile, ec) || fs::exists(run / kMetricsFile, ec)) {
      ref.run_dir = run.string();
      const std::string run_name = Normalized(fs::absolute(run, ec).string()).filename().string();
      if (!run_name.empty()) ref.label = absl::StrCat(run_name, "/", name);
    }
  }
  const std::string state_path = dir + "/" + kTrainerStateFile;
  if (absl::StatusOr<std::string> text = core::ReadFile(state_path); text.ok()) {
    if (absl::StatusOr<TrainerState> state = TrainerState::FromJson(*text, state_path); state.ok()) {
      ref.step = state->step;
      ref.val_loss = state->val_loss;
    }
  }
  return ref;
}

absl::StatusOr<std::vector<CheckpointRef>> ListRunCheckpoints(const std::string& run_dir) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) {
    return absl::NotFoundError(absl::StrCat("run directory ", run_dir, " does not exist"));
  }
  const fs::path root = fs::path(run_dir) / "checkpoints";
  std::vector<std::pair<int64_t, std::string>> found;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    const std::optional<int64_t> step = StepFromName(name);
    if (!entry.is_directory() || !step || core::AtomicDirectory::IsTemporaryName(name)) continue;
    found.emplace_back(*step, entry.path().string());
  }
  if (found.empty()) {
    return absl::NotFoundError(absl::StrCat("run directory ", run_dir, " has no checkpoints (expected ",
                                            root.string(), "/step-N directories written by plume-train)"));
  }
  std::sort(found.begin(), found.end());
  std::vector<CheckpointRef> out;
  for (const auto& [step, dir] : found) out.push_back(DescribeCheckpoint(dir));
  return out;
}

}  // namespace plume::trainer
