// Plume's generated Unicode classes against Node's regex engine (V8 + ICU, the engine js-tiktoken
// runs GPT-2's pattern on), for every code point assigned in the tables' Unicode version.
#include "core/unicode_classes.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/file_io.h"
#include "tests/test_util.h"

namespace plume::core {
namespace {

// Code points assigned in Unicode <= `version` ("15.0"), from DerivedAge.txt.
std::vector<bool> AssignedUpTo(const std::string& version) {
  std::vector<bool> assigned(0x110000, false);
  std::ifstream in("/usr/share/unicode/DerivedAge.txt");
  EXPECT_TRUE(in.good()) << "DerivedAge.txt missing: install unicode-data (scripts/setup.sh)";
  const double limit = std::stod(version);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    unsigned lo, hi;
    char age[16];
    if (std::sscanf(line.c_str(), "%x..%x ; %15s", &lo, &hi, age) == 3 ||
        (std::sscanf(line.c_str(), "%x ; %15s", &lo, age) == 2 && (hi = lo, true))) {
      if (std::stod(age) <= limit + 1e-9) {
        for (unsigned c = lo; c <= hi && c < 0x110000; ++c) assigned[c] = true;
      }
    }
  }
  return assigned;
}

TEST(UnicodeClassesTest, KnownCodePoints) {
  EXPECT_EQ(ClassOf(U'a'), CharClass::kLetter);
  EXPECT_EQ(ClassOf(U'\u00e9'), CharClass::kLetter);
  EXPECT_EQ(ClassOf(U'\u4e2d'), CharClass::kLetter);   // CJK ideograph (a range in the UCD)
  EXPECT_EQ(ClassOf(U'\uac00'), CharClass::kLetter);   // Hangul syllable (a range)
  EXPECT_EQ(ClassOf(U'7'), CharClass::kNumber);
  EXPECT_EQ(ClassOf(U'\u00bd'), CharClass::kNumber);   // No
  EXPECT_EQ(ClassOf(U'\u2167'), CharClass::kNumber);   // Nl
  EXPECT_EQ(ClassOf(U'\u0301'), CharClass::kOther);    // combining mark
  EXPECT_EQ(ClassOf(U'\U0001F600'), CharClass::kOther);
  EXPECT_EQ(ClassOf(U'\u0085'), CharClass::kWhiteSpace);  // White_Space, as Rust's \s
  EXPECT_EQ(ClassOf(U'\ufeff'), CharClass::kOther);       // not White_Space
  EXPECT_EQ(ClassOf(U'\u200b'), CharClass::kOther);
  EXPECT_EQ(ClassOf(U'\u3000'), CharClass::kWhiteSpace);
  EXPECT_EQ(ClassOf(0x1C), CharClass::kOther);   // not \s (Python's isspace disagrees)
  EXPECT_EQ(ClassOf(0x110000), CharClass::kOther);
  EXPECT_STREQ(UnicodeClassesVersion(), "15.0.0");
}

TEST(UnicodeClassesTest, MatchesNodeRegexOnAllAssignedCodePoints) {
  testing::TempDir dir("unicode_ref");
  const std::string out = dir / "classes.txt";
  const auto run = testing::RunCommand(std::string("node ") + PLUME_SOURCE_DIR +
                                       "/tests/reference/unicode_classes_reference.js " + out);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto text = ReadFile(out);
  ASSERT_TRUE(text.ok()) << text.status();
  const size_t newline = text->find('\n');
  ASSERT_NE(newline, std::string::npos);
  const std::string classes = text->substr(newline + 1);
  ASSERT_EQ(classes.size(), 0x110000u);
  const std::vector<bool> assigned = AssignedUpTo(UnicodeClassesVersion());
  int compared = 0, mismatches = 0;
  std::string examples;
  for (char32_t c = 0; c < 0x110000; ++c) {
    if (!assigned[c]) continue;  // unassigned in our version: Node's newer ICU may know it
    char want = classes[c];
    // JavaScript's \s differs from White_Space in exactly two code points (checked above).
    if (c == 0x85) want = 'S';
    if (c == 0xFEFF) want = '.';
    const CharClass got = ClassOf(c);
    const char g = got == CharClass::kLetter ? 'L'
                   : got == CharClass::kNumber ? 'N'
                   : got == CharClass::kWhiteSpace ? 'S' : '.';
    ++compared;
    if (g != want) {
      if (++mismatches <= 10) absl::StrAppendFormat(&examples, " U+%04X(%c/%c)", c, g, want);
    }
  }
  EXPECT_GT(compared, 280000);
  EXPECT_EQ(mismatches, 0) << "Plume/Node classes differ (Node Unicode " << text->substr(0, newline)
                           << "):" << examples;
  EXPECT_EQ(classes[0x85], '.');   // JavaScript's \s: not whitespace ...
  EXPECT_EQ(classes[0xFEFF], 'S');  // ... and whitespace: why js-tiktoken is not the reference there
}

}  // namespace
}  // namespace plume::core
