// The engine's attention memory: one core::LayerKv per layer, [slots, H, max_len, D] each,
// allocated once, and the allocator that hands its slots to sequences. A slot holds one sequence
// of up to max_len tokens, so an admitted sequence can never run out of room mid-generation;
// when every slot is taken, new requests wait (see Scheduler).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "absl/status/statusor.h"
#include "core/gpt.h"

namespace plume::inference {

// Hands out slot numbers, lowest free first: that keeps the running sequences in a compact
// range, which the decode attention walks as one contiguous view of the cache.
class SlotAllocator {
 public:
  explicit SlotAllocator(int num_slots);
  std::optional<int> Allocate();
  void Free(int slot);  // the slot must be allocated
  int num_slots() const { return num_slots_; }
  int num_free() const { return static_cast<int>(free_.size()); }

 private:
  int num_slots_;
  std::set<int> free_;
};

class KvCache {
 public:
  // Allocates the tensors (zeros) for `model`; RESOURCE_EXHAUSTED when memory is short.
  static absl::StatusOr<std::unique_ptr<KvCache>> Create(const core::GptImpl& model, int num_slots,
                                                         int max_len);
  // Bytes a cache of this shape needs (both K and V, all layers, float32).
  static int64_t BytesNeeded(const core::GptConfig& config, int num_slots, int max_len);

  SlotAllocator& slots() { return slots_; }
  std::vector<core::LayerKv>& layers() { return layers_; }
  int max_len() const { return max_len_; }

 private:
  KvCache(std::vector<core::LayerKv> layers, int num_slots, int max_len)
      : layers_(std::move(layers)), slots_(num_slots), max_len_(max_len) {}
  std::vector<core::LayerKv> layers_;
  SlotAllocator slots_;
  int max_len_;
};

}  // namespace plume::inference
