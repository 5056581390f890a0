// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then
// the tensor bytes. The reader memory-maps the file and validates the header completely before
// any byte is used; the writer produces files that Hugging Face's library loads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/mapped_file.h"

namespace plume::core {

enum class SafetensorsDtype { kBool, kU8, kI8, kI16, kU16, kF16, kBF16, kI32, kU32, kF32, kF64, kI64, kU64 };

absl::string_view DtypeName(SafetensorsDtype dtype);  // "F32", ...
size_t DtypeSize(SafetensorsDtype dtype);            // bytes per element

struct SafetensorsEntry {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte range in the data section
  uint64_t end = 0;
  int64_t numel() const;
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // sorted by name
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // where the data section starts in the file (8 + header length)
};

// Parses and validates a whole file's bytes' header: lengths, JSON, dtypes, shapes, offsets in
// range, no overlaps and no holes (the spec forbids both). Never reads out of `file`.
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(absl::string_view file);

// A validated, memory-mapped safetensors file.
class SafetensorsFile {
 public:
  static absl::StatusOr<SafetensorsFile> Open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsEntry>& entries() const { return header_.entries; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const SafetensorsEntry* Find(absl::string_view name) const;  // nullptr when absent
  absl::Span<const uint8_t> Data(const SafetensorsEntry& entry) const;

 private:
  SafetensorsFile(std::string path, MappedFile mapping, SafetensorsHeader header)
      : path_(std::move(path)), mapping_(std::move(mapping)), header_(std::move(header)) {}

  std::string path_;
  MappedFile mapping_;
  SafetensorsHeader header_;
};

// A tensor to write: `data` holds numel * DtypeSize(dtype) little-endian bytes.
struct SafetensorsTensorRef {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// Writes a safetensors file at `path` (truncating) and fsyncs it. Tensors are laid out in the
// given order; the header is padded to 8-byte alignment. Atomicity is the caller's
// (AtomicDirectory or a temporary name).
absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<SafetensorsTensorRef>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace plume::core
