// GPT-2's pre-tokenisation: splits text into the pieces that BPE then encodes one by one, exactly
// as the regular expression
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// does (leftmost alternative first, greedy, with the backtracking of `\s+(?!\S)`), with \s = the
// White_Space property. Hand-written: no regex engine, one pass, no allocation per piece.
#pragma once

#include <vector>

#include "absl/strings/string_view.h"

namespace plume::core {

// Appends the pieces of `text` to `pieces`; they are views into `text` and concatenate to it.
// `text` must be valid UTF-8 (see FindInvalidUtf8).
void SplitGpt2Pieces(absl::string_view text, std::vector<absl::string_view>* pieces);

// The same, stopping after `max_pieces` pieces; returns the bytes consumed. Matching restarts
// where the last match ended (the pattern only looks ahead), so splitting the rest later gives
// the same pieces as one call: bounded memory for huge texts.
size_t SplitGpt2Pieces(absl::string_view text, std::vector<absl::string_view>* pieces,
                       size_t max_pieces);

}  // namespace plume::core
