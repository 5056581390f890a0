// A read-only memory mapping of a whole file, shared by copies.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plume::core {

class MappedFile {
 public:
  static absl::StatusOr<MappedFile> Open(const std::string& path);

  const char* data() const { return static_cast<const char*>(region_->base); }
  size_t size() const { return region_->size; }
  absl::string_view bytes() const { return absl::string_view(data(), size()); }

 private:
  struct Region {
    void* base = nullptr;
    size_t size = 0;
    ~Region();
  };
  explicit MappedFile(std::shared_ptr<Region> region) : region_(std::move(region)) {}
  std::shared_ptr<Region> region_;
};

}  // namespace plume::core
