#include "inference/utf8.h"

#include <cstdint>

namespace plume::inference {
namespace {

// Length of the character a lead byte starts and the allowed range of its second byte; length 0
// for bytes that cannot start a character.
struct Lead {
  int length;
  uint8_t lo, hi;
};

Lead LeadOf(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b < 0xC2) return {0, 0, 0};  // continuation byte or overlong 2-byte lead
  if (b < 0xE0) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};  // no overlongs
  if (b == 0xED) return {3, 0x80, 0x9F};  // no surrogates
  if (b < 0xF0) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};  // no overlongs
  if (b < 0xF4) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};  // nothing above U+10FFFF
  return {0, 0, 0};
}

enum class Scan { kValid, kInvalid, kIncomplete };

// Examines the character starting at bytes[i]; `length` receives the bytes it spans (the whole
// character when valid, the maximal ill-formed subpart when invalid, what is there when
// incomplete).
Scan ScanCharacter(absl::string_view bytes, size_t i, size_t* length) {
  const Lead lead = LeadOf(static_cast<uint8_t>(bytes[i]));
  if (lead.length == 0) {
    *length = 1;
    return Scan::kInvalid;
  }
  for (int j = 1; j < lead.length; ++j) {
    if (i + j >= bytes.size()) {
      *length = bytes.size() - i;
      return Scan::kIncomplete;
    }
    const uint8_t b = static_cast<uint8_t>(bytes[i + j]);
    const uint8_t lo = j == 1 ? lead.lo : 0x80, hi = j == 1 ? lead.hi : 0xBF;
    if (b < lo || b > hi) {
      *length = j;
      return Scan::kInvalid;
    }
  }
  *length = lead.length;
  return Scan::kValid;
}

}  // namespace

bool IsValidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    size_t length = 0;
    if (ScanCharacter(text, i, &length) != Scan::kValid) return false;
    i += length;
  }
  return true;
}

size_t AppendCompleteUtf8(absl::string_view bytes, bool final, std::string* out) {
  size_t i = 0;
  while (i < bytes.size()) {
    size_t length = 0;
    switch (ScanCharacter(bytes, i, &length)) {
      case Scan::kValid:
        out->append(bytes.data() + i, length);
        break;
      case Scan::kInvalid:
        out->append(kReplacementCharacter);
        break;
      case Scan::kIncomplete:
        if (!final) return i;
        out->append(kReplacementCharacter);
        break;
    }
    i += length;
  }
  return i;
}

}  // namespace plume::inference
