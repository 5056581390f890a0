#include "inference/vocabulary.h"

#include "absl/strings/str_cat.h"

namespace plume::inference {

absl::StatusOr<Vocabulary> Vocabulary::Create(std::vector<std::string> token_bytes,
                                              const std::vector<int32_t>& special_ids,
                                              std::optional<int32_t> eos_id) {
  if (token_bytes.empty()) return absl::InvalidArgumentError("vocabulary is empty");
  const int32_t size = static_cast<int32_t>(token_bytes.size());
  Vocabulary vocab;
  vocab.special_.assign(token_bytes.size(), false);
  for (int32_t id : special_ids) {
    if (id < 0 || id >= size) {
      return absl::InvalidArgumentError(
          absl::StrCat("special token id ", id, " is outside the vocabulary [0, ", size, ")"));
    }
    vocab.special_[id] = true;
  }
  if (eos_id.has_value() && (*eos_id < 0 || *eos_id >= size)) {
    return absl::InvalidArgumentError(
        absl::StrCat("eos id ", *eos_id, " is outside the vocabulary [0, ", size, ")"));
  }
  vocab.token_bytes_ = std::move(token_bytes);
  vocab.eos_id_ = eos_id;
  return vocab;
}

absl::string_view Vocabulary::TokenBytes(int32_t id) const {
  if (id < 0 || id >= size()) return {};
  return token_bytes_[id];
}

bool Vocabulary::IsSpecial(int32_t id) const { return id >= 0 && id < size() && special_[id]; }

}  // namespace plume::inference
