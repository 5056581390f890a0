// A directory built under a temporary name beside its final path and renamed into place only
// when complete, so a crash never leaves a partial directory where a complete one is expected.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plume::core {

class AtomicDirectory {
 public:
  // Creates "<final_path>.tmp-<pid>-<nonce>" (the parent directory must exist).
  static absl::StatusOr<AtomicDirectory> Create(const std::string& final_path);

  AtomicDirectory(AtomicDirectory&& other) noexcept;
  AtomicDirectory& operator=(AtomicDirectory&&) = delete;
  AtomicDirectory(const AtomicDirectory&) = delete;
  // Removes the temporary directory unless Commit() succeeded.
  ~AtomicDirectory();

  // Where to write the files: the temporary directory.
  const std::string& path() const { return temp_path_; }
  const std::string& final_path() const { return final_path_; }

  // fsyncs every file and the directory, then renames it to final_path (atomically exchanging
  // it with an existing directory there, which is then removed) and fsyncs the parent.
  absl::Status Commit();

  // True for names AtomicDirectory uses while writing, so scanners can skip them.
  static bool IsTemporaryName(absl::string_view name);

 private:
  AtomicDirectory(std::string final_path, std::string temp_path)
      : final_path_(std::move(final_path)), temp_path_(std::move(temp_path)) {}

  std::string final_path_;
  std::string temp_path_;
  bool committed_ = false;
};

}  // namespace plume::core
