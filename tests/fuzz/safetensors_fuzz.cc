// libFuzzer target: the safetensors header parser must accept or reject any byte string without
// crashing, reading out of bounds or leaking; what it accepts must describe in-range data.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view file(reinterpret_cast<const char*>(data), size);
  auto header = plume::core::ParseSafetensorsHeader(file);
  if (!header.ok()) return 0;
  uint64_t covered = 0;
  for (const auto& entry : header->entries) {
    if (header->data_offset + entry.end > size) std::abort();
    if (entry.end - entry.begin != entry.numel() * plume::core::DtypeSize(entry.dtype)) std::abort();
    covered += entry.end - entry.begin;
  }
  if (header->data_offset + covered != size) std::abort();
  return 0;
}
