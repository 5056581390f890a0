// The Unicode character classes of GPT-2's pre-tokenisation pattern: \p{L}, \p{N} and \s (the
// White_Space property, as Rust's regex crate and so tiktoken use it: U+0085 is whitespace,
// U+FEFF is not). Tables are generated from the Unicode Character Database into
// unicode_classes_data.cc by scripts/gen_unicode_classes.py.
#pragma once

#include <cstdint>

namespace plume::core {

enum class CharClass : uint8_t {
  kOther = 0,       // none of the below (punctuation, symbols, marks, controls, unassigned)
  kLetter = 1,      // \p{L}
  kNumber = 2,      // \p{N}
  kWhiteSpace = 3,  // \s (White_Space)
};

// Class of a code point; kOther for values above U+10FFFF. O(1): a two-stage table built once.
CharClass ClassOf(char32_t cp);

// Version of the Unicode Character Database the tables were generated from, e.g. "15.0.0".
const char* UnicodeClassesVersion();

struct CodePointRange {
  char32_t first;
  char32_t last;  // inclusive
};

namespace unicode_data {  // generated
extern const char kUnicodeVersion[];
extern const CodePointRange kLetterRanges[];
extern const int kLetterRangesSize;
extern const CodePointRange kNumberRanges[];
extern const int kNumberRangesSize;
extern const CodePointRange kWhiteSpaceRanges[];
extern const int kWhiteSpaceRangesSize;
}  // namespace unicode_data

}  // namespace plume::core
