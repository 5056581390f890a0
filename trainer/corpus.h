// Training corpora: paths (files, directories, globs) expanded to files, files read into
// documents according to the corpus format.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "trainer/train_config.h"

namespace plume::trainer {

struct Document {
  std::string prompt;  // kPromptCompletion: the part without loss; empty otherwise
  std::string text;    // the document (kPromptCompletion: the completion)
};

// Files of `patterns`: a file, a directory (all regular files below it, recursively) or a glob.
// Sorted and de-duplicated. A pattern that matches nothing is an error naming it.
absl::StatusOr<std::vector<std::string>> ExpandCorpusPaths(const std::vector<std::string>& patterns);

// Documents of `files` in file order. Plain text is split at data.document_separator; JSONL lines
// are parsed (errors name file and line); invalid UTF-8 is an error naming file and byte offset
// unless data.replace_invalid_utf8. Empty documents are dropped.
absl::StatusOr<std::vector<Document>> ReadDocuments(const std::vector<std::string>& files,
                                                    const DataConfig& data);

}  // namespace plume::trainer
