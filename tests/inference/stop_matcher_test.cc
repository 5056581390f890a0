#include "inference/stop_matcher.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace plume::inference {
namespace {

TEST(StopMatcherTest, PassesEverythingWithoutStops) {
  StopMatcher matcher({});
  std::string out;
  EXPECT_FALSE(matcher.Add("abc", &out));
  EXPECT_EQ(out, "abc");
  EXPECT_EQ(matcher.held_bytes(), 0u);
}

TEST(StopMatcherTest, StopSpanningPiecesIsNeverEmitted) {
  StopMatcher matcher({"###"});
  std::string out;
  EXPECT_FALSE(matcher.Add("ab#", &out));
  EXPECT_EQ(out, "ab");  // "#" could start the stop string: held back
  EXPECT_FALSE(matcher.Add("#", &out));
  EXPECT_EQ(out, "ab");
  EXPECT_TRUE(matcher.Add("#cd", &out));
  EXPECT_EQ(out, "ab");
  EXPECT_EQ(matcher.stopped_index(), 0);
  EXPECT_TRUE(matcher.Add("more", &out));  // ignored after the stop
  EXPECT_EQ(out, "ab");
}

TEST(StopMatcherTest, HeldTextIsReleasedWhenItCannotBeAStop) {
  StopMatcher matcher({"###"});
  std::string out;
  EXPECT_FALSE(matcher.Add("x##", &out));
  EXPECT_EQ(out, "x");
  EXPECT_FALSE(matcher.Add("y", &out));
  EXPECT_EQ(out, "x##y");
  EXPECT_FALSE(matcher.Add("#", &out));
  matcher.Flush(&out);  // end of stream: "#" was not a stop after all
  EXPECT_EQ(out, "x##y#");
}

TEST(StopMatcherTest, OverlappingPrefix) {
  StopMatcher matcher({"abc"});
  std::string out;
  EXPECT_FALSE(matcher.Add("aab", &out));
  EXPECT_EQ(out, "a");  // "ab" may begin "abc"
  EXPECT_TRUE(matcher.Add("c", &out));
  EXPECT_EQ(out, "a");
}

TEST(StopMatcherTest, EarliestStopWins) {
  StopMatcher matcher({"world", "lo w"});
  std::string out;
  EXPECT_TRUE(matcher.Add("hello world", &out));
  EXPECT_EQ(out, "hel");
  EXPECT_EQ(matcher.stopped_index(), 1);
}

TEST(StopMatcherTest, MultiByteStopAcrossPieces) {
  StopMatcher matcher({"\xE6\x97\xA5\xE6\x9C\xAC"});  // 日本
  std::string out;
  EXPECT_FALSE(matcher.Add("\xE4\xBB\x8A\xE6\x97\xA5", &out));  // 今日
  EXPECT_EQ(out, "\xE4\xBB\x8A");                               // 今; 日 held
  EXPECT_TRUE(matcher.Add("\xE6\x9C\xAC!", &out));              // 本!
  EXPECT_EQ(out, "\xE4\xBB\x8A");
}

// Random texts cut at random points: the output is always a prefix of the text before the first
// stop, and at the end exactly that.
TEST(StopMatcherTest, RandomPiecesEmitExactlyTheTextBeforeTheFirstStop) {
  std::mt19937 rng(3);
  const std::string alphabet = "ab#c";
  for (int trial = 0; trial < 3000; ++trial) {
    std::string text;
    for (int i = 0, n = 1 + rng() % 30; i < n; ++i) text += alphabet[rng() % alphabet.size()];
    std::vector<std::string> stops;
    for (int i = 0, n = 1 + rng() % 3; i < n; ++i) {
      std::string stop;
      for (int j = 0, m = 1 + rng() % 4; j < m; ++j) stop += alphabet[rng() % alphabet.size()];
      stops.push_back(stop);
    }
    size_t cut = std::string::npos;
    for (const std::string& stop : stops) cut = std::min(cut, text.find(stop));
    const std::string expected = text.substr(0, cut);

    StopMatcher matcher(stops);
    std::string out;
    bool stopped = false;
    for (size_t pos = 0; pos < text.size() && !stopped;) {
      const size_t n = std::min<size_t>(1 + rng() % 5, text.size() - pos);
      stopped = matcher.Add(text.substr(pos, n), &out);
      pos += n;
      ASSERT_EQ(expected.compare(0, out.size(), out), 0)
          << "emitted beyond the stop: text=" << text << " out=" << out;
    }
    if (!stopped) matcher.Flush(&out);
    ASSERT_EQ(stopped, cut != std::string::npos) << text;
    ASSERT_EQ(out, expected) << text;
  }
}

}  // namespace
}  // namespace plume::inference
