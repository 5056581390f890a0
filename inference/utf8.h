// UTF-8 checks for streamed text: validation and the decoding step of an incremental
// detokenizer that must only ever emit whole, valid characters.
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace plume::inference {

inline constexpr char kReplacementCharacter[] = "\xEF\xBF\xBD";  // U+FFFD

// Whether `text` is well-formed UTF-8 (Unicode Table 3-7: no overlongs, surrogates or values
// above U+10FFFF).
bool IsValidUtf8(absl::string_view text);

// Appends to `out` the characters of `bytes` that are complete, replacing each ill-formed
// subsequence by one U+FFFD (the "maximal subpart" practice of Unicode chapter 3, which Python's
// errors="replace" follows). A trailing sequence that is a valid but unfinished character is left
// alone unless `final`, in which case it becomes one U+FFFD. Returns how many bytes were consumed;
// the rest (at most 3 bytes) must be passed again with the bytes that follow.
size_t AppendCompleteUtf8(absl::string_view bytes, bool final, std::string* out);

}  // namespace plume::inference
