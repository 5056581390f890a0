#include "core/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "nlohmann/json.hpp"

namespace plume::core {
namespace {

// Header size limit from the reference implementation: guards against absurd allocations.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeInfo {
  SafetensorsDtype dtype;
  absl::string_view name;
  size_t size;
};
constexpr DtypeInfo kDtypes[] = {
    {SafetensorsDtype::kBool, "BOOL", 1}, {SafetensorsDtype::kU8, "U8", 1},
    {SafetensorsDtype::kI8, "I8", 1},     {SafetensorsDtype::kI16, "I16", 2},
    {SafetensorsDtype::kU16, "U16", 2},   {SafetensorsDtype::kF16, "F16", 2},
    {SafetensorsDtype::kBF16, "BF16", 2}, {SafetensorsDtype::kI32, "I32", 4},
    {SafetensorsDtype::kU32, "U32", 4},   {SafetensorsDtype::kF32, "F32", 4},
    {SafetensorsDtype::kF64, "F64", 8},   {SafetensorsDtype::kI64, "I64", 8},
    {SafetensorsDtype::kU64, "U64", 8},
};

const DtypeInfo* FindDtype(absl::string_view name) {
  for (const DtypeInfo& info : kDtypes) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("invalid safetensors: ", what));
}

absl::StatusOr<SafetensorsEntry> ParseEntry(const std::string& name, const nlohmann::json& value) {
  auto bad = [&](absl::string_view what) { return Invalid(absl::StrCat("tensor '", name, "': ", what)); };
  if (!value.is_object()) return bad("entry is not an object");
  SafetensorsEntry entry;
  entry.name = name;
  const auto dtype = value.find("dtype");
  if (dtype == value.end() || !dtype->is_string()) return bad("missing string 'dtype'");
  const DtypeInfo* info = FindDtype(dtype->get_ref<const std::string&>());
  if (info == nullptr) return bad(absl::StrCat("unknown dtype ", dtype->dump()));
  entry.dtype = info->dtype;

  const auto shape = value.find("shape");
  if (shape == value.end() || !shape->is_array()) return bad("missing array 'shape'");
  uint64_t numel = 1;
  for (const auto& dim : *shape) {
    if (!dim.is_number_unsigned()) return bad(absl::StrCat("shape has a non-integer or negative dimension ", dim.dump()));
    const uint64_t d = dim.get<uint64_t>();
    if (d > (1ULL << 40) || (d != 0 && numel > (1ULL << 48) / d)) return bad("shape is too large");
    numel *= d;
    entry.shape.push_back(static_cast<int64_t>(d));
  }
  const auto offsets = value.find("data_offsets");
  if (offsets == value.end() || !offsets->is_array() || offsets->size() != 2 ||
      !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
    return bad("'data_offsets' must be two non-negative integers");
  }
  entry.begin = (*offsets)[0].get<uint64_t>();
  entry.end = (*offsets)[1].get<uint64_t>();
  if (entry.end < entry.begin) return bad("data_offsets end before they begin");
  if (entry.end - entry.begin != numel * info->size) {
    return bad(absl::StrCat("data_offsets span ", entry.end - entry.begin, " bytes but dtype ",
                            info->name, " and shape need ", numel * info->size));
  }
  for (const auto& [key, unused] : value.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") return bad(absl::StrCat("unexpected field '", key, "'"));
  }
  return entry;
}

}  // namespace

absl::string_view DtypeName(SafetensorsDtype dtype) {
  for (const DtypeInfo& info : kDtypes) {
    if (info.dtype == dtype) return info.name;
  }
  return "?";
}

size_t DtypeSize(SafetensorsDtype dtype) {
  for (const DtypeInfo& info : kDtypes) {
    if (info.dtype == dtype) return info.size;
  }
  return 0;
}

int64_t SafetensorsEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(absl::string_view file) {
  if (file.size() < 8) return Invalid(absl::StrCat("file is ", file.size(), " bytes, shorter than the 8-byte header length"));
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(file[i]);
  if (header_len > kMaxHeaderBytes) return Invalid(absl::StrCat("header length ", header_len, " exceeds the 100 MB limit"));
  if (header_len > file.size() - 8) {
    return Invalid(absl::StrCat("header length ", header_len, " is larger than the rest of the file (",
                                file.size() - 8, " bytes): truncated or not a safetensors file"));
  }
  const absl::string_view text = file.substr(8, header_len);
  if (text.empty() || text[0] != '{') return Invalid("header does not start with '{'");
  const nlohmann::json json = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return Invalid("header is not a valid JSON object");

  SafetensorsHeader header;
  header.data_offset = 8 + header_len;
  for (const auto& [name, value] : json.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) return Invalid("__metadata__ is not an object");
      for (const auto& [key, text_value] : value.items()) {
        if (!text_value.is_string()) return Invalid(absl::StrCat("__metadata__ value of '", key, "' is not a string"));
        header.metadata[key] = text_value.get<std::string>();
      }
      continue;
    }
    absl::StatusOr<SafetensorsEntry> entry = ParseEntry(name, value);
    if (!entry.ok()) return entry.status();
    header.entries.push_back(std::move(*entry));
  }
  // The data section must be covered exactly: sorted by offset, each range starts where the
  // previous ended (no overlap, no hole) and the last one ends at the end of the file.
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : header.entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  const uint64_t data_size = file.size() - header.data_offset;
  uint64_t expected = 0;
  for (const SafetensorsEntry* e : by_offset) {
    if (e->end > data_size) {
      return Invalid(absl::StrCat("tensor '", e->name, "': data_offsets [", e->begin, ", ", e->end,
                                  ") are beyond the data section (", data_size, " bytes): file truncated?"));
    }
    if (e->begin < expected) return Invalid(absl::StrCat("tensor '", e->name, "': data overlaps the previous tensor"));
    if (e->begin > expected) return Invalid(absl::StrCat("tensor '", e->name, "': hole of ", e->begin - expected, " bytes before its data"));
    expected = e->end;
  }
  if (expected != data_size) {
    return Invalid(absl::StrCat("data section has ", data_size - expected, " trailing bytes not covered by any tensor"));
  }
  return header;
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  absl::StatusOr<MappedFile> mapping = MappedFile::Open(path);
  if (!mapping.ok()) return mapping.status();
  absl::StatusOr<SafetensorsHeader> header = ParseSafetensorsHeader(mapping->bytes());
  if (!header.ok()) {
    return absl::Status(header.status().code(), absl::StrCat(path, ": ", header.status().message()));
  }
  std::sort(header->entries.begin(), header->entries.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return SafetensorsFile(path, std::move(*mapping), std::move(*header));
}

const SafetensorsEntry* SafetensorsFile::Find(absl::string_view name) const {
  auto it = std::lower_bound(header_.entries.begin(), header_.entries.end(), name,
                             [](const SafetensorsEntry& e, absl::string_view n) { return e.name < n; });
  return it != header_.entries.end() && it->name == name ? &*it : nullptr;
}

absl::Span<const uint8_t> SafetensorsFile::Data(const SafetensorsEntry& entry) const {
  const auto* base = reinterpret_cast<const uint8_t*>(mapping_.data()) + header_.data_offset;
  return absl::Span<const uint8_t>(base + entry.begin, entry.end - entry.begin);
}

absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<SafetensorsTensorRef>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const SafetensorsTensorRef& t : tensors) {
    uint64_t numel = 1;
    for (int64_t d : t.shape) numel *= static_cast<uint64_t>(d);
    if (numel * DtypeSize(t.dtype) != t.nbytes) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "' has ", t.nbytes,
                                                     " bytes, its shape and dtype need ", numel * DtypeSize(t.dtype)));
    }
    if (header.contains(t.name)) return absl::InvalidArgumentError(absl::StrCat("duplicate tensor name '", t.name, "'"));
    header[t.name] = {{"dtype", DtypeName(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // align the data section to 8 bytes
  std::string prefix(8, '\0');
  uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((len >> (8 * i)) & 0xff);

  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("create", path);
  auto write_all = [&](const void* data, size_t size) -> absl::Status {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd, p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("write", path);
      }
      p += n;
      size -= static_cast<size_t>(n);
    }
    return absl::OkStatus();
  };
  absl::Status status = write_all(prefix.data(), prefix.size());
  if (status.ok()) status = write_all(text.data(), text.size());
  for (size_t i = 0; status.ok() && i < tensors.size(); ++i) status = write_all(tensors[i].data, tensors[i].nbytes);
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoStatus("fsync", path);
  if (::close(fd) != 0 && status.ok()) status = ErrnoStatus("close", path);
  return status;
}

}  // namespace plume::core
