#include "core/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace plume::core {
namespace {

const std::string kFffd = kReplacementCharacter;

std::string DecodeAll(absl::string_view bytes) {
  std::string out;
  EXPECT_EQ(AppendCompleteUtf8(bytes, /*final=*/true, &out), bytes.size());
  return out;
}

TEST(Utf8Test, ValidatesWellFormedText) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80"));  // café 日本 😀
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));                                       // U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate D800
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xE6\x97"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
  EXPECT_FALSE(IsValidUtf8("\xFF"));
}

// The example of Unicode 15, section 3.9 ("U+FFFD Substitution of Maximal Subparts"):
// 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 -> a FFFD FFFD FFFD b FFFD c FFFD FFFD d.
TEST(Utf8Test, ReplacesMaximalSubpartsLikeTheUnicodeExample) {
  const std::string bytes = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
  EXPECT_EQ(DecodeAll(bytes),
            "a" + kFffd + kFffd + kFffd + "b" + kFffd + "c" + kFffd + kFffd + "d");
}

TEST(Utf8Test, HoldsBackAnUnfinishedCharacterUnlessFinal) {
  std::string out;
  // "a" then the first two bytes of 日 (E6 97 A5).
  EXPECT_EQ(AppendCompleteUtf8("a\xE6\x97", /*final=*/false, &out), 1u);
  EXPECT_EQ(out, "a");
  out.clear();
  EXPECT_EQ(AppendCompleteUtf8("a\xE6\x97", /*final=*/true, &out), 3u);
  EXPECT_EQ(out, "a" + kFffd);
  // A byte that cannot continue the character ends it at once, without waiting.
  out.clear();
  EXPECT_EQ(AppendCompleteUtf8("\xE6\x97x", /*final=*/false, &out), 3u);
  EXPECT_EQ(out, kFffd + "x");
  // E0 must be followed by A0..BF: E0 80 is two ill-formed subparts.
  EXPECT_EQ(DecodeAll("\xE0\x80"), kFffd + kFffd);
  // F0 9F is a valid start of an emoji: one U+FFFD when cut there.
  EXPECT_EQ(DecodeAll("\xF0\x9F"), kFffd);
}

}  // namespace
}  // namespace plume::core
