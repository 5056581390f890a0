#include "core/unicode_classes.h"

#include <array>
#include <cstring>
#include <vector>

namespace plume::core {
namespace {

constexpr char32_t kMaxCodePoint = 0x10FFFF;
constexpr int kBlockBits = 8;
constexpr int kBlockSize = 1 << kBlockBits;
constexpr int kNumBlocks = (kMaxCodePoint + 1) >> kBlockBits;

// Two-stage lookup: block index per 256 code points, then the deduplicated blocks. About 60 KB.
struct ClassTable {
  std::array<uint16_t, kNumBlocks> block_of{};
  std::vector<uint8_t> blocks;

  ClassTable() {
    std::vector<uint8_t> flat(kMaxCodePoint + 1, static_cast<uint8_t>(CharClass::kOther));
    auto fill = [&](const CodePointRange* ranges, int n, CharClass cls) {
      for (int i = 0; i < n; ++i) {
        for (char32_t c = ranges[i].first; c <= ranges[i].last; ++c) {
          flat[c] = static_cast<uint8_t>(cls);
        }
      }
    };
    fill(unicode_data::kLetterRanges, unicode_data::kLetterRangesSize, CharClass::kLetter);
    fill(unicode_data::kNumberRanges, unicode_data::kNumberRangesSize, CharClass::kNumber);
    fill(unicode_data::kWhiteSpaceRanges, unicode_data::kWhiteSpaceRangesSize,
         CharClass::kWhiteSpace);
    for (int b = 0; b < kNumBlocks; ++b) {
      const uint8_t* block = flat.data() + static_cast<size_t>(b) * kBlockSize;
      int found = -1;
      const int existing = static_cast<int>(blocks.size() / kBlockSize);
      for (int k = 0; k < existing; ++k) {
        if (std::memcmp(blocks.data() + static_cast<size_t>(k) * kBlockSize, block, kBlockSize) ==
            0) {
          found = k;
          break;
        }
      }
      if (found < 0) {
        found = existing;
        blocks.insert(blocks.end(), block, block + kBlockSize);
      }
      block_of[b] = static_cast<uint16_t>(found);
    }
  }
};

const ClassTable& Table() {
  static const ClassTable* const table = new ClassTable();
  return *table;
}

}  // namespace

CharClass ClassOf(char32_t cp) {
  if (cp > kMaxCodePoint) return CharClass::kOther;
  const ClassTable& t = Table();
  return static_cast<CharClass>(
      t.blocks[static_cast<size_t>(t.block_of[cp >> kBlockBits]) * kBlockSize +
               (cp & (kBlockSize - 1))]);
}

const char* UnicodeClassesVersion() { return unicode_data::kUnicodeVersion; }

}  // namespace plume::core
