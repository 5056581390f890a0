#include "core/byte_level.h"

#include "core/utf8.h"

namespace plume::core {
namespace {

bool IsSelfMapped(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Tables {
  std::array<char32_t, 256> code_point{};
  std::array<uint8_t, 256> order{};
  std::array<std::string, 256> text{};  // UTF-8 of code_point
  std::array<uint8_t, 68> shifted{};     // byte written as U+0100 + i

  Tables() {
    int n = 0, k = 0;
    for (int b = 0; b < 256; ++b) {
      if (IsSelfMapped(b)) {
        code_point[b] = static_cast<char32_t>(b);
        order[k++] = static_cast<uint8_t>(b);
      }
    }
    for (int b = 0; b < 256; ++b) {
      if (!IsSelfMapped(b)) {
        shifted[n] = static_cast<uint8_t>(b);
        code_point[b] = static_cast<char32_t>(256 + n++);
        order[k++] = static_cast<uint8_t>(b);
      }
    }
    for (int b = 0; b < 256; ++b) AppendUtf8(code_point[b], &text[b]);
  }
};

const Tables& GetTables() {
  static const Tables* const tables = new Tables();
  return *tables;
}

}  // namespace

char32_t ByteLevelCodePoint(uint8_t b) { return GetTables().code_point[b]; }

std::string BytesToByteLevel(absl::string_view bytes) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) out += t.text[static_cast<uint8_t>(c)];
  return out;
}

std::string ByteLevelToBytes(absl::string_view text) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    int len = Utf8SequenceLength(text, pos);
    if (len == 0) len = 1;  // not UTF-8: keep the byte as it is
    const char32_t cp = len == 1 && static_cast<uint8_t>(text[pos]) >= 0x80
                            ? 0xFFFFFFFF
                            : DecodeUtf8Unchecked(text.data() + pos, len);
    if (cp < 0x100 && IsSelfMapped(static_cast<int>(cp))) {
      out.push_back(static_cast<char>(cp));
    } else if (cp >= 0x100 && cp < 0x100 + 68) {
      out.push_back(static_cast<char>(t.shifted[cp - 0x100]));
    } else {
      out.append(text.data() + pos, static_cast<size_t>(len));
    }
    pos += static_cast<size_t>(len);
  }
  return out;
}

const std::array<uint8_t, 256>& ByteLevelOrder() { return GetTables().order; }

}  // namespace plume::core
