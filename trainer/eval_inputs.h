// plume-eval's inputs: held-out corpora (read with the trainer's corpus formats, hashed for
// provenance) and the checkpoints to score (given one by one, or all of a run's in step order).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "trainer/corpus.h"
#include "trainer/train_config.h"

namespace plume::trainer {

struct CorpusFile {
  std::string path;
  std::string sha256;  // of the file's bytes
};

// A held-out corpus, read once and shared by every checkpoint (each tokenizes it its own way).
struct EvalCorpus {
  std::string name;                 // the path or glob as given
  std::vector<CorpusFile> files;    // what it expanded to
  std::vector<Document> documents;  // prompt (context only) + text (scored)
  int64_t words = 0;                // CountWords summed over the documents' scored text
  int64_t bytes = 0;                // CountBytes summed likewise
};

// Reads `pattern` (file, directory or glob) with the trainer's reader. A corpus without any
// document is an error naming it.
absl::StatusOr<EvalCorpus> LoadEvalCorpus(const std::string& pattern, const DataConfig& data);

// A checkpoint directory to evaluate and where it comes from.
struct CheckpointRef {
  std::string dir;
  std::string label;              // short name for tables: "<run>/step-00000200" or the dir's name
  std::optional<int64_t> step;    // trainer_state.json's step, else the step-N directory name
  std::optional<double> val_loss; // the trainer's validation loss at this checkpoint, if recorded
  std::string run_dir;            // the run it belongs to ("" when not under <run>/checkpoints)
};

// Describes `dir` without loading it (a missing or broken directory is described all the same;
// loading reports the problem).
CheckpointRef DescribeCheckpoint(const std::string& dir);

// Every checkpoint directory of a training run (<run>/checkpoints/step-N, temporary ones
// skipped), in step order. Directories with a damaged trainer_state.json are included, so
// evaluation reports them as failed instead of skipping them silently. A directory that holds no
// run, or a run without checkpoints, is an error.
absl::StatusOr<std::vector<CheckpointRef>> ListRunCheckpoints(const std::string& run_dir);

}  // namespace plume::trainer
