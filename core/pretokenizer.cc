#include "core/pretokenizer.h"

#include <array>

#include "core/unicode_classes.h"
#include "core/utf8.h"

namespace plume::core {
namespace {

// ASCII classes, the hot path (tested against ClassOf in pretokenizer_test).
constexpr std::array<CharClass, 128> kAsciiClasses = [] {
  std::array<CharClass, 128> t{};
  for (int c = 0; c < 128; ++c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      t[c] = CharClass::kLetter;
    } else if (c >= '0' && c <= '9') {
      t[c] = CharClass::kNumber;
    } else if ((c >= 0x09 && c <= 0x0D) || c == ' ') {
      t[c] = CharClass::kWhiteSpace;
    } else {
      t[c] = CharClass::kOther;
    }
  }
  return t;
}();

struct CodePointInfo {
  CharClass cls;
  int len;  // bytes
};

inline CodePointInfo At(const char* p) {
  const auto b = static_cast<unsigned char>(*p);
  if (b < 0x80) return {kAsciiClasses[b], 1};
  const int len = Utf8LengthFromLead(b);
  return {ClassOf(DecodeUtf8Unchecked(p, len)), len};
}

// End of the run of code points of class `cls` starting at `p`.
inline const char* RunEnd(const char* p, const char* end, CharClass cls) {
  while (p < end) {
    const auto b = static_cast<unsigned char>(*p);
    if (b < 0x80) {
      if (kAsciiClasses[b] != cls) break;
      ++p;
      continue;
    }
    const CodePointInfo c = At(p);
    if (c.cls != cls) break;
    p += c.len;
  }
  return p;
}

// Length of a contraction ('s 't 're 've 'm 'll 'd, case-sensitive) at `p` (which is '\''), or 0.
inline int ContractionLength(const char* p, const char* end) {
  if (end - p < 2) return 0;
  const char c1 = p[1];
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (end - p < 3) return 0;
  const char c2 = p[2];
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

}  // namespace

void SplitGpt2Pieces(absl::string_view text, std::vector<absl::string_view>* pieces) {
  SplitGpt2Pieces(text, pieces, text.size());
}

size_t SplitGpt2Pieces(absl::string_view text, std::vector<absl::string_view>* pieces,
                       size_t max_pieces) {
  const char* p = text.data();
  const char* const end = p + text.size();
  auto emit = [&](const char* from, const char* to) {
    pieces->emplace_back(from, static_cast<size_t>(to - from));
  };
  for (size_t count = 0; p < end && count < max_pieces; ++count) {
    const char* const start = p;
    if (*p == '\'') {
      const int n = ContractionLength(p, end);
      if (n > 0) {
        p += n;
        emit(start, p);
        continue;
      }
    }
    // " ?\p{L}+", " ?\p{N}+" and " ?[^\s\p{L}\p{N}]+": an optional U+0020 and a run of one class.
    if (*p == ' ' && p + 1 < end) {
      const CodePointInfo next = At(p + 1);
      if (next.cls != CharClass::kWhiteSpace) {
        p = RunEnd(p + 1 + next.len, end, next.cls);
        emit(start, p);
        continue;
      }
    }
    const CodePointInfo c = At(p);
    if (c.cls != CharClass::kWhiteSpace) {
      p = RunEnd(p + c.len, end, c.cls);
      emit(start, p);
      continue;
    }
    // "\s+(?!\S)|\s+": a whitespace run ending the text is one piece; one followed by other text
    // leaves its last code point to the next piece (which may then be " word"), unless the run is
    // a single code point, which "\s+" takes alone.
    const char* last = p;
    int run = 0;
    while (p < end) {
      const CodePointInfo w = At(p);
      if (w.cls != CharClass::kWhiteSpace) break;
      last = p;
      p += w.len;
      ++run;
    }
    if (p < end && run > 1) p = last;
    emit(start, p);
  }
  return static_cast<size_t>(p - text.data());
}

}  // namespace plume::core
