// UTF-8 validation, decoding and repair (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace plume::core {

inline constexpr char kReplacementCharacter[] = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at `s[pos]` (1-4), or 0 when the bytes there are
// not a valid sequence (truncated, overlong, surrogate, above U+10FFFF, stray continuation).
int Utf8SequenceLength(absl::string_view s, size_t pos);

// Offset of the first byte that does not start a valid sequence, or s.size() when all is valid.
size_t FindInvalidUtf8(absl::string_view s);

inline bool IsValidUtf8(absl::string_view s) { return FindInvalidUtf8(s) == s.size(); }

// Decodes the sequence of `len` bytes at `p`, which must be valid.
inline char32_t DecodeUtf8Unchecked(const char* p, int len) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  switch (len) {
    case 1: return u[0];
    case 2: return ((u[0] & 0x1Fu) << 6) | (u[1] & 0x3Fu);
    case 3: return ((u[0] & 0x0Fu) << 12) | ((u[1] & 0x3Fu) << 6) | (u[2] & 0x3Fu);
    default:
      return ((u[0] & 0x07u) << 18) | ((u[1] & 0x3Fu) << 12) | ((u[2] & 0x3Fu) << 6) |
             (u[3] & 0x3Fu);
  }
}

// Length of the valid sequence whose first byte is `lead`: 1-4 (for valid input only).
inline int Utf8LengthFromLead(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// Appends the UTF-8 encoding of `cp` (which must be a scalar value).
void AppendUtf8(char32_t cp, std::string* out);

// `s` with each maximal invalid subpart replaced by U+FFFD (the Unicode/WHATWG practice);
// valid input is returned unchanged.
std::string ReplaceInvalidUtf8(absl::string_view s);

// The streaming form of ReplaceInvalidUtf8: appends to `out` the characters of `bytes` that are
// complete, each maximal invalid subpart replaced by one U+FFFD (as Python's errors="replace").
// A trailing sequence that is a valid but unfinished character is left alone unless `final`, in
// which case it becomes one U+FFFD. Returns how many bytes were consumed; the rest (at most 3
// bytes) must be passed again with the bytes that follow.
size_t AppendCompleteUtf8(absl::string_view bytes, bool final, std::string* out);

}  // namespace plume::core
