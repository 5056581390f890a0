#include "inference/kv_cache.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"

namespace plume::inference {

SlotAllocator::SlotAllocator(int num_slots) : num_slots_(num_slots) {
  for (int i = 0; i < num_slots; ++i) free_.insert(free_.end(), i);
}

std::optional<int> SlotAllocator::Allocate() {
  if (free_.empty()) return std::nullopt;
  const int slot = *free_.begin();
  free_.erase(free_.begin());
  return slot;
}

void SlotAllocator::Free(int slot) {
  TORCH_CHECK(slot >= 0 && slot < num_slots_, "slot ", slot, " out of range");
  const bool inserted = free_.insert(slot).second;
  TORCH_CHECK(inserted, "slot ", slot, " freed twice");
}

int64_t KvCache::BytesNeeded(const core::GptConfig& config, int num_slots, int max_len) {
  return int64_t{2} * config.n_layer * num_slots * config.n_head * max_len * config.head_dim() *
         static_cast<int64_t>(sizeof(float));
}

absl::StatusOr<std::unique_ptr<KvCache>> KvCache::Create(const core::GptImpl& model, int num_slots,
                                                         int max_len) {
  if (num_slots < 1) return absl::InvalidArgumentError("KV cache needs at least one slot");
  if (max_len < 1 || max_len > model.config().n_positions) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV cache length ", max_len,
                     " must be in [1, n_positions=", model.config().n_positions, "]"));
  }
  try {
    return std::unique_ptr<KvCache>(
        new KvCache(model.NewKvCache(num_slots, max_len), num_slots, max_len));
  } catch (const std::exception& e) {  // c10::Error or std::bad_alloc
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot allocate the KV cache (", BytesNeeded(model.config(), num_slots, max_len),
        " bytes for ", num_slots, " slots of ", max_len, " tokens): ", e.what()));
  }
}

}  // namespace plume::inference
