// Whole-file reads and durable writes (data and metadata reach the disk before success).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plume::core {

absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes `contents` to `path` (truncating) and fsyncs the file. Not atomic by itself: write into
// an AtomicDirectory, or use WriteFileAtomically for a single file.
absl::Status WriteFileDurably(const std::string& path, absl::string_view contents);

// Writes to a temporary name beside `path`, fsyncs, renames over `path`, fsyncs the directory:
// readers see the old or the new file, never a partial one.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// fsync of a file or directory by path.
absl::Status SyncPath(const std::string& path);

// "Cannot <what> <path>: <strerror(errno)>" as an absl status of the matching code.
absl::Status ErrnoStatus(absl::string_view what, const std::string& path);

}  // namespace plume::core
