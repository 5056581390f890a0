// Internal: the state behind a Tokenizer, shared by tokenizer.cc (encode/decode) and
// tokenizer_files.cc (file formats). Not for use outside core/tokenizer*.cc.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/tokenizer.h"

namespace plume::core {

struct Tokenizer::Impl {
  struct Merge {
    int32_t rank;
    int32_t id;  // the merged token
  };
  // Scratch space of one encoding thread.
  struct Scratch;

  BpeModelData data;
  absl::flat_hash_map<std::string, int32_t> bytes_to_id;  // ordinary (non-added) tokens
  absl::flat_hash_map<uint64_t, Merge> merges;            // key: left << 32 | right
  std::array<int32_t, 256> byte_ids{};                    // single-byte tokens
  // Per id: BPE of the token's own bytes gives exactly [id], so a pre-token piece with these
  // bytes is that token without running the merges (the common case in prose).
  std::vector<uint8_t> whole_piece_is_token;
  std::vector<uint8_t> is_added;  // per id
  std::vector<int32_t> added_by_length;  // indices into data.added_tokens, longest content first

  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  const Merge* FindMerge(int32_t left, int32_t right) const {
    auto it = merges.find(PairKey(left, right));
    return it == merges.end() ? nullptr : &it->second;
  }

  // Appends the ids of valid UTF-8 `text`.
  void EncodeValid(absl::string_view text, SpecialTokens special, Scratch& scratch,
                   std::vector<int32_t>* ids) const;
  // Text without added tokens: pre-tokenise, then BPE each piece.
  void EncodeOrdinary(absl::string_view text, Scratch& scratch, std::vector<int32_t>* ids) const;
  // BPE of one piece (any bytes), merges applied by rank, leftmost first among equals.
  void EncodePiece(absl::string_view piece, Scratch& scratch, std::vector<int32_t>* ids) const;
};

}  // namespace plume::core
