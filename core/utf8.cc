#include "core/utf8.h"

namespace plume::core {
namespace {

inline bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the longest prefix of the sequence at `pos` that could still begin a valid sequence
// (>= 1): the "maximal subpart" replaced by a single U+FFFD.
int MaximalInvalidSubpart(absl::string_view s, size_t pos) {
  const auto* u = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  const unsigned char c = u[pos];
  int need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  int len = 1;
  for (int k = 0; k < need && pos + len < n; ++k) {
    const unsigned char b = u[pos + len];
    if (k == 0 ? (b < lo || b > hi) : !IsContinuation(b)) break;
    ++len;
  }
  return len;
}

}  // namespace

int Utf8SequenceLength(absl::string_view s, size_t pos) {
  const auto* u = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  if (pos >= n) return 0;
  const unsigned char c = u[pos];
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;  // continuation byte or overlong 2-byte lead
  if (c <= 0xDF) return (pos + 1 < n && IsContinuation(u[pos + 1])) ? 2 : 0;
  if (c <= 0xEF) {
    if (pos + 2 >= n) return 0;
    const unsigned char b1 = u[pos + 1];
    if (c == 0xE0 && b1 < 0xA0) return 0;  // overlong
    if (c == 0xED && b1 > 0x9F) return 0;  // surrogate
    return (IsContinuation(b1) && IsContinuation(u[pos + 2])) ? 3 : 0;
  }
  if (c <= 0xF4) {
    if (pos + 3 >= n) return 0;
    const unsigned char b1 = u[pos + 1];
    if (c == 0xF0 && b1 < 0x90) return 0;  // overlong
    if (c == 0xF4 && b1 > 0x8F) return 0;  // above U+10FFFF
    return (IsContinuation(b1) && IsContinuation(u[pos + 2]) && IsContinuation(u[pos + 3])) ? 4
                                                                                           : 0;
  }
  return 0;
}

size_t FindInvalidUtf8(absl::string_view s) {
  const auto* u = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t pos = 0;
  while (pos < n) {
    // ASCII fast path, 8 bytes at a time.
    while (pos + 8 <= n) {
      uint64_t word;
      __builtin_memcpy(&word, u + pos, 8);
      if (word & 0x8080808080808080ull) break;
      pos += 8;
    }
    if (pos >= n) break;
    if (u[pos] < 0x80) {
      ++pos;
      continue;
    }
    const int len = Utf8SequenceLength(s, pos);
    if (len == 0) return pos;
    pos += len;
  }
  return n;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string ReplaceInvalidUtf8(absl::string_view s) {
  if (IsValidUtf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  AppendCompleteUtf8(s, /*final=*/true, &out);
  return out;
}

size_t AppendCompleteUtf8(absl::string_view bytes, bool final, std::string* out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const size_t bad = pos + FindInvalidUtf8(bytes.substr(pos));
    out->append(bytes.data() + pos, bad - pos);
    if (bad == bytes.size()) return bad;
    const auto lead = static_cast<unsigned char>(bytes[bad]);
    const int subpart = MaximalInvalidSubpart(bytes, bad);
    const bool unfinished = lead >= 0xC2 && lead <= 0xF4 && bad + subpart == bytes.size();
    if (unfinished && !final) return bad;
    out->append(kReplacementCharacter);
    pos = bad + static_cast<size_t>(subpart);
  }
  return pos;
}

}  // namespace plume::core
