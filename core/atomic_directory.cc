#include "core/atomic_directory.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/status_macros.h"

namespace plume::core {
namespace fs = std::filesystem;

namespace {
constexpr char kTempMarker[] = ".tmp-";
}

absl::StatusOr<AtomicDirectory> AtomicDirectory::Create(const std::string& final_path) {
  fs::path path = fs::path(final_path).lexically_normal();
  if (!path.has_filename() && path.has_parent_path()) path = path.parent_path();  // "a/b/" -> "a/b"
  const std::string normalized = path.string();
  std::random_device rd;
  const std::string temp = absl::StrCat(normalized, kTempMarker, ::getpid(), "-", rd());
  if (::mkdir(temp.c_str(), 0755) != 0) return ErrnoStatus("create directory", temp);
  return AtomicDirectory(normalized, temp);
}

AtomicDirectory::AtomicDirectory(AtomicDirectory&& other) noexcept
    : final_path_(std::move(other.final_path_)),
      temp_path_(std::move(other.temp_path_)),
      committed_(other.committed_) {
  other.committed_ = true;  // the moved-from object owns nothing
}

AtomicDirectory::~AtomicDirectory() {
  if (committed_ || temp_path_.empty()) return;
  std::error_code ignored;
  fs::remove_all(temp_path_, ignored);
}

bool AtomicDirectory::IsTemporaryName(absl::string_view name) {
  return name.find(kTempMarker) != absl::string_view::npos;
}

absl::Status AtomicDirectory::Commit() {
  if (committed_) return absl::FailedPreconditionError("AtomicDirectory already committed");
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(temp_path_, ec)) {
    if (entry.is_regular_file() || entry.is_directory()) RETURN_IF_ERROR(SyncPath(entry.path()));
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", temp_path_, ": ", ec.message()));
  RETURN_IF_ERROR(SyncPath(temp_path_));

  std::string parent = fs::path(final_path_).parent_path().string();
  if (parent.empty()) parent = ".";
  if (::renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, final_path_.c_str(),
                  RENAME_NOREPLACE) == 0) {
    committed_ = true;
    return SyncPath(parent);
  }
  if (errno != EEXIST) return ErrnoStatus("rename into", final_path_);
  // Replace an existing directory: swap both names in one step, then delete the old one.
  if (::renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, final_path_.c_str(),
                  RENAME_EXCHANGE) != 0) {
    return ErrnoStatus("replace", final_path_);
  }
  committed_ = true;
  RETURN_IF_ERROR(SyncPath(parent));
  fs::remove_all(temp_path_, ec);  // now holds the previous contents
  return absl::OkStatus();
}

}  // namespace plume::core
