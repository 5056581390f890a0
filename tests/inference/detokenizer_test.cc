#include "inference/detokenizer.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/utf8.h"

namespace plume::inference {
namespace {

const std::string kFffd = core::kReplacementCharacter;

// Byte-level tokens in the manner of GPT-2's BPE: some end inside a character.
Vocabulary FragmentVocab() {
  std::vector<std::string> tokens = {
      "a",                 // 0
      "\xE6",              // 1: first byte of 日 (E6 97 A5)
      "\x97\xA5",          // 2: rest of 日
      "\xF0\x9F",          // 3: first half of 😀 (F0 9F 98 80)
      "\x98\x80",          // 4: second half of 😀
      "<|endoftext|>",     // 5: special
      "\xFF",              // 6: never valid
      "\xE6\x97\xA5\xE6",  // 7: 日 and the start of the next
      "\x9C\xAC",          // 8: rest of 本 (E6 9C AC)
      " world",            // 9
  };
  return *Vocabulary::Create(tokens, {5}, 5);
}

std::string Detokenize(const Vocabulary& vocab, const std::vector<int32_t>& ids,
                       std::vector<std::string>* deltas = nullptr) {
  Detokenizer detok(vocab);
  std::string all;
  for (int32_t id : ids) {
    std::string piece;
    detok.Add(id, &piece);
    if (deltas != nullptr) deltas->push_back(piece);
    all += piece;
  }
  std::string tail;
  detok.Finish(&tail);
  if (deltas != nullptr) deltas->push_back(tail);
  return all + tail;
}

TEST(DetokenizerTest, EmitsCharactersOnlyWhenComplete) {
  const Vocabulary vocab = FragmentVocab();
  std::vector<std::string> deltas;
  EXPECT_EQ(Detokenize(vocab, {0, 1, 2, 3, 4, 9}, &deltas), "a\xE6\x97\xA5\xF0\x9F\x98\x80 world");
  EXPECT_EQ(deltas, (std::vector<std::string>{"a", "", "\xE6\x97\xA5", "", "\xF0\x9F\x98\x80",
                                              " world", ""}));
}

TEST(DetokenizerTest, CharacterSpanningTokensWithTextAround) {
  const Vocabulary vocab = FragmentVocab();
  std::vector<std::string> deltas;
  EXPECT_EQ(Detokenize(vocab, {7, 8}, &deltas), "\xE6\x97\xA5\xE6\x9C\xAC");  // 日本
  EXPECT_EQ(deltas[0], "\xE6\x97\xA5");
  EXPECT_EQ(deltas[1], "\xE6\x9C\xAC");
}

TEST(DetokenizerTest, GenerationCutMidCharacterEndsValid) {
  const Vocabulary vocab = FragmentVocab();
  std::vector<std::string> deltas;
  const std::string text = Detokenize(vocab, {0, 3}, &deltas);
  EXPECT_EQ(text, "a" + kFffd);
  EXPECT_EQ(deltas.back(), kFffd);  // Finish released the unfinished emoji as U+FFFD
  EXPECT_TRUE(core::IsValidUtf8(text));
}

TEST(DetokenizerTest, InvalidBytesBecomeReplacementCharacters) {
  const Vocabulary vocab = FragmentVocab();
  EXPECT_EQ(Detokenize(vocab, {6, 0}), kFffd + "a");
  EXPECT_EQ(Detokenize(vocab, {1, 0}), kFffd + "a");  // 日 interrupted by "a"
  EXPECT_EQ(Detokenize(vocab, {2}), kFffd + kFffd);   // two lone continuation bytes
}

TEST(DetokenizerTest, SpecialTokensProduceNoText) {
  const Vocabulary vocab = FragmentVocab();
  EXPECT_EQ(Detokenize(vocab, {0, 5, 0}), "aa");
  // The special token does not break a character apart either.
  EXPECT_EQ(Detokenize(vocab, {1, 5, 2}), "\xE6\x97\xA5");
}

// Any token sequence: every delta is valid UTF-8 and the deltas add up to the one-shot decode.
TEST(DetokenizerTest, RandomSequencesGiveValidDeltasEqualToOneShotDecode) {
  const Vocabulary vocab = FragmentVocab();
  std::mt19937 rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<int32_t> ids(1 + rng() % 12);
    std::string bytes;
    for (int32_t& id : ids) {
      id = static_cast<int32_t>(rng() % vocab.size());
      if (!vocab.IsSpecial(id)) bytes += std::string(vocab.TokenBytes(id));
    }
    std::vector<std::string> deltas;
    const std::string text = Detokenize(vocab, ids, &deltas);
    for (const std::string& delta : deltas) ASSERT_TRUE(core::IsValidUtf8(delta)) << trial;
    std::string one_shot;
    core::AppendCompleteUtf8(bytes, /*final=*/true, &one_shot);
    ASSERT_EQ(text, one_shot) << trial;
  }
}

}  // namespace
}  // namespace plume::inference
