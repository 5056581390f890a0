// The token facts generation needs from a tokenizer: the raw bytes each token id stands for,
// which ids are special (control tokens such as <|endoftext|> that produce no text) and the
// end-of-sequence id. An immutable table, cheap to read from the scheduler thread; built from
// any byte-level vocabulary (core::Tokenizer's TokenBytes, or a table given by tests/tools).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plume::inference {

class Vocabulary {
 public:
  // `token_bytes[id]` are the bytes of token id (possibly a fragment of a UTF-8 character);
  // `special_ids` and `eos_id` must be ids of the table.
  static absl::StatusOr<Vocabulary> Create(std::vector<std::string> token_bytes,
                                           const std::vector<int32_t>& special_ids,
                                           std::optional<int32_t> eos_id);

  int size() const { return static_cast<int>(token_bytes_.size()); }
  // Empty for ids outside [0, size()).
  absl::string_view TokenBytes(int32_t id) const;
  bool IsSpecial(int32_t id) const;
  std::optional<int32_t> eos_id() const { return eos_id_; }

 private:
  Vocabulary() = default;
  std::vector<std::string> token_bytes_;
  std::vector<bool> special_;
  std::optional<int32_t> eos_id_;
};

}  // namespace plume::inference
