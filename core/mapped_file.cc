#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"

namespace plume::core {

MappedFile::Region::~Region() {
  if (base != nullptr && base != MAP_FAILED) ::munmap(base, size);
}

absl::StatusOr<MappedFile> MappedFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    absl::Status status = ErrnoStatus("stat", path);
    ::close(fd);
    return status;
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, " is a directory, expected a file"));
  }
  auto region = std::make_shared<Region>();
  region->size = static_cast<size_t>(st.st_size);
  if (region->size > 0) {
    region->base = ::mmap(nullptr, region->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (region->base == MAP_FAILED) {
      absl::Status status = ErrnoStatus("mmap", path);
      ::close(fd);
      return status;
    }
  }
  ::close(fd);
  return MappedFile(std::move(region));
}

}  // namespace plume::core
