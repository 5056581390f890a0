// GPT-2's byte <-> unicode table ("bytes_to_unicode"): every byte maps to one printable code
// point, so that vocab.json / merges.txt / tokenizer.json hold byte strings as text. The printable
// bytes '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF map to themselves; the other 68 bytes map to
// U+0100.. in byte order (so ' ' becomes 'Ġ' U+0120).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace plume::core {

// The code point byte `b` is written as.
char32_t ByteLevelCodePoint(uint8_t b);

// Raw bytes -> their byte-level text (UTF-8).
std::string BytesToByteLevel(absl::string_view bytes);

// Byte-level text (valid UTF-8) -> raw bytes. A code point outside the table stands for its own
// UTF-8 bytes, as in Hugging Face's ByteLevel decoder.
std::string ByteLevelToBytes(absl::string_view text);

// The 256 bytes in GPT-2's order (the order of ids 0..255 in its vocabulary): the self-mapped
// printable bytes first, then the others.
const std::array<uint8_t, 256>& ByteLevelOrder();

}  // namespace plume::core
