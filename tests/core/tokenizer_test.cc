// Unit tests of the tokenizer parts: UTF-8, the GPT-2 pre-tokenizer, byte-level table, BPE merge
// order (against a naive reference), special tokens, errors, file formats and the trainer.
#include "core/tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <cstring>
#include <map>
#include <random>

#include "absl/strings/match.h"
#include "core/byte_level.h"
#include "core/file_io.h"
#include "core/pretokenizer.h"
#include "core/unicode_classes.h"
#include "core/utf8.h"
#include "tests/test_util.h"

namespace plume::core {
namespace {

using ::testing::ElementsAre;

// ---------------------------------------------------------------- UTF-8

TEST(Utf8Test, FindsFirstInvalidByte) {
  EXPECT_EQ(FindInvalidUtf8("plain ascii text that is long"), 29u);
  EXPECT_EQ(FindInvalidUtf8("h\xC3\xA9llo \xF0\x9F\x98\x80"), 11u);  // valid: é and an emoji
  EXPECT_EQ(FindInvalidUtf8("abc\xFF"), 3u);
  EXPECT_EQ(FindInvalidUtf8("ab\x80"), 2u);               // stray continuation
  EXPECT_EQ(FindInvalidUtf8("\xC0\x80"), 0u);             // overlong NUL
  EXPECT_EQ(FindInvalidUtf8("x\xE0\x80\xAF"), 1u);        // overlong 3-byte
  EXPECT_EQ(FindInvalidUtf8("xy\xED\xA0\x80"), 2u);       // surrogate U+D800
  EXPECT_EQ(FindInvalidUtf8("\xF4\x90\x80\x80"), 0u);     // above U+10FFFF
  EXPECT_EQ(FindInvalidUtf8("abcdefgh\xE2\x82"), 8u);     // truncated at the end
  EXPECT_EQ(FindInvalidUtf8(absl::string_view("a\0b", 3)), 3u);  // NUL is valid
}

TEST(Utf8Test, ReplacesMaximalInvalidSubparts) {
  EXPECT_EQ(ReplaceInvalidUtf8("ok"), "ok");
  EXPECT_EQ(ReplaceInvalidUtf8("a\xFF" "b"), "a\uFFFD" "b");
  EXPECT_EQ(ReplaceInvalidUtf8("\xE2\x82"), "\uFFFD");            // one truncated character
  EXPECT_EQ(ReplaceInvalidUtf8("\xF0\x9F\x98" "x"), "\uFFFDx");
  EXPECT_EQ(ReplaceInvalidUtf8("\xC0\x80"), "\uFFFD\uFFFD");      // C0 can start nothing
  EXPECT_EQ(ReplaceInvalidUtf8("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");
  EXPECT_TRUE(IsValidUtf8(ReplaceInvalidUtf8("\x80\x81\xFE\xE2\x82\xAC\xE2")));
}

// ---------------------------------------------------------------- pre-tokenizer

std::vector<std::string> Pieces(absl::string_view text) {
  std::vector<absl::string_view> views;
  SplitGpt2Pieces(text, &views);
  return std::vector<std::string>(views.begin(), views.end());
}

TEST(PretokenizerTest, Gpt2PatternCases) {
  EXPECT_THAT(Pieces("Hello world"), ElementsAre("Hello", " world"));
  EXPECT_THAT(Pieces("a  b"), ElementsAre("a", " ", " b"));
  EXPECT_THAT(Pieces("a\n\nb"), ElementsAre("a", "\n", "\n", "b"));
  EXPECT_THAT(Pieces("  \nabc"), ElementsAre("  ", "\n", "abc"));
  EXPECT_THAT(Pieces("x   "), ElementsAre("x", "   "));
  EXPECT_THAT(Pieces("don't"), ElementsAre("don", "'t"));
  EXPECT_THAT(Pieces("we'll they're"), ElementsAre("we", "'ll", " they", "'re"));
  EXPECT_THAT(Pieces("DON'T"), ElementsAre("DON", "'", "T"));       // case-sensitive
  EXPECT_THAT(Pieces(" 's"), ElementsAre(" '", "s"));
  EXPECT_THAT(Pieces("!'s"), ElementsAre("!'", "s"));
  EXPECT_THAT(Pieces("it\u2019s"), ElementsAre("it", "\u2019", "s"));
  EXPECT_THAT(Pieces("123abc 45"), ElementsAre("123", "abc", " 45"));
  EXPECT_THAT(Pieces("?! ..."), ElementsAre("?!", " ..."));
  EXPECT_THAT(Pieces("e\u0301t\u00e9"), ElementsAre("e", "\u0301", "t\u00e9"));
  EXPECT_THAT(Pieces("a\u0085 b"), ElementsAre("a", "\u0085", " b"));  // U+0085 is \s
  EXPECT_THAT(Pieces("x \ufeffy"), ElementsAre("x", " \ufeff", "y"));  // U+FEFF is not
  EXPECT_THAT(Pieces("\u4f60\u597d\uff0c"), ElementsAre("\u4f60\u597d", "\uff0c"));
  EXPECT_TRUE(Pieces("").empty());
}

TEST(PretokenizerTest, AsciiClassesAgreeWithUnicodeTables) {
  for (int c = 0; c < 128; ++c) {
    const std::string ch(1, static_cast<char>(c));
    const CharClass cls = ClassOf(static_cast<char32_t>(c));
    if (c == '\'') continue;  // contractions
    const auto letter = Pieces("a" + ch + "1");
    const auto other = Pieces("!" + ch + "!");
    switch (cls) {
      case CharClass::kLetter: EXPECT_THAT(letter, ElementsAre("a" + ch, "1")) << c; break;
      case CharClass::kNumber: EXPECT_THAT(letter, ElementsAre("a", ch + "1")) << c; break;
      case CharClass::kOther: EXPECT_THAT(other, ElementsAre("!" + ch + "!")) << c; break;
      case CharClass::kWhiteSpace:
        if (c == ' ') {
          EXPECT_THAT(other, ElementsAre("!", " !"));
        } else {
          EXPECT_THAT(other, ElementsAre("!", ch, "!")) << c;
        }
        break;
    }
  }
}

TEST(PretokenizerTest, SplittingInRoundsGivesTheSamePieces) {
  std::mt19937 rng(5);
  const std::vector<std::string> atoms = {"a", "Z", "7", " ", "  ", "\n", "\t", "'s", "'", "!",
                                          "\u00e9", "\u4e2d", "\u0301", "\u3000", "\U0001F600"};
  std::string text;
  for (int i = 0; i < 5000; ++i) text += atoms[rng() % atoms.size()];
  std::vector<absl::string_view> whole;
  SplitGpt2Pieces(text, &whole);
  for (const size_t round : {1u, 2u, 7u, 100u}) {
    std::vector<absl::string_view> parts;
    absl::string_view rest = text;
    while (!rest.empty()) rest.remove_prefix(SplitGpt2Pieces(rest, &parts, round));
    EXPECT_EQ(parts, whole) << round;
  }
  std::string joined;
  for (auto p : whole) joined.append(p.data(), p.size());
  EXPECT_EQ(joined, text);
}

// ---------------------------------------------------------------- byte level

TEST(ByteLevelTest, Gpt2Table) {
  EXPECT_EQ(ByteLevelCodePoint(' '), U'\u0120');  // 'Ġ'
  EXPECT_EQ(ByteLevelCodePoint('\n'), U'\u010a');  // 'Ċ'
  EXPECT_EQ(ByteLevelCodePoint('A'), U'A');
  EXPECT_EQ(ByteLevelCodePoint(0xAD), U'\u0143');
  EXPECT_EQ(ByteLevelOrder()[0], '!');
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(ByteLevelToBytes(BytesToByteLevel(all)), all);
  EXPECT_EQ(BytesToByteLevel(" the"), "\u0120the");
}

// ---------------------------------------------------------------- BPE on a small vocabulary

// 256 byte tokens in GPT-2 order plus merges given as byte strings.
BpeModelData SmallModel(const std::vector<std::pair<std::string, std::string>>& merges) {
  BpeModelData data;
  for (const uint8_t b : ByteLevelOrder()) data.tokens.emplace_back(1, static_cast<char>(b));
  auto id_of = [&](const std::string& s) {
    for (size_t i = 0; i < data.tokens.size(); ++i) {
      if (data.tokens[i] == s) return static_cast<int32_t>(i);
    }
    data.tokens.push_back(s);
    return static_cast<int32_t>(data.tokens.size() - 1);
  };
  for (const auto& [l, r] : merges) {
    const int32_t a = id_of(l), b = id_of(r);
    id_of(l + r);
    data.merges.emplace_back(a, b);
  }
  return data;
}

std::vector<std::string> Strings(const Tokenizer& t, const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  for (const int32_t id : ids) out.emplace_back(t.TokenBytes(id));
  return out;
}

TEST(BpeTest, MergesApplyByRankLeftmostFirst) {
  auto t = Tokenizer::FromModelData(SmallModel({{"b", "c"}, {"a", "b"}, {"a", "a"}, {"aa", "aa"}}));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Strings(*t, *t->Encode("abc", SpecialTokens::kAsText)), ElementsAre("a", "bc"));
  EXPECT_THAT(Strings(*t, *t->Encode("aaa", SpecialTokens::kAsText)), ElementsAre("aa", "a"));
  EXPECT_THAT(Strings(*t, *t->Encode("aaaaa", SpecialTokens::kAsText)),
              ElementsAre("aaaa", "a"));
  EXPECT_TRUE(t->Encode("", SpecialTokens::kAsText)->empty());
}

TEST(BpeTest, UnreachableWholeTokenIsNotAShortcut) {
  // "abc" is in the vocabulary (made by ab+c) but "bc" merges first, so BPE never reaches it.
  auto t = Tokenizer::FromModelData(SmallModel({{"b", "c"}, {"a", "b"}, {"ab", "c"}}));
  ASSERT_TRUE(t.ok());
  EXPECT_THAT(Strings(*t, *t->Encode("abc", SpecialTokens::kAsText)), ElementsAre("a", "bc"));
  BpeModelData data = SmallModel({{"b", "c"}, {"a", "b"}, {"ab", "c"}});
  data.ignore_merges = true;  // Hugging Face's option: the whole piece wins
  auto whole = Tokenizer::FromModelData(data);
  ASSERT_TRUE(whole.ok());
  EXPECT_THAT(Strings(*whole, *whole->Encode("abc", SpecialTokens::kAsText)), ElementsAre("abc"));
}

// Textbook BPE on one piece: repeatedly merge the lowest-ranked adjacent pair, leftmost first.
std::vector<std::string> NaiveBpe(const std::string& piece, const BpeModelData& data) {
  std::vector<std::string> parts;
  for (const char c : piece) parts.emplace_back(1, c);
  while (true) {
    size_t best = 0, best_rank = SIZE_MAX;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      for (size_t r = 0; r < data.merges.size() && r < best_rank; ++r) {
        if (data.tokens[data.merges[r].first] == parts[i] &&
            data.tokens[data.merges[r].second] == parts[i + 1]) {
          best = i;
          best_rank = r;
        }
      }
    }
    if (best_rank == SIZE_MAX) return parts;
    parts[best] += parts[best + 1];
    parts.erase(parts.begin() + static_cast<ptrdiff_t>(best) + 1);
  }
}

TEST(BpeTest, ShortAndLongPiecesMatchNaiveBpe) {
  std::mt19937 rng(11);
  auto random_word = [&](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s.push_back("aabbbcd"[rng() % 7]);
    return s;
  };
  std::vector<std::string> corpus;
  for (int i = 0; i < 300; ++i) corpus.push_back(random_word(1 + rng() % 20));
  BpeTrainerOptions options;
  options.vocab_size = 256 + 60 + 1;
  auto t = TrainBpe(corpus, options);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_GT(t->num_merges(), 40);
  // Lengths on both sides of the short/long switch (48 bytes) and a long one.
  for (const size_t n : {1u, 2u, 5u, 30u, 47u, 48u, 49u, 50u, 120u, 700u}) {
    for (int k = 0; k < 5; ++k) {
      const std::string word = random_word(n);
      EXPECT_EQ(Strings(*t, *t->Encode(word, SpecialTokens::kAsText)),
                NaiveBpe(word, t->model_data()))
          << word;
    }
  }
}

// ---------------------------------------------------------------- special tokens and errors

Tokenizer SmallWithSpecials() {
  BpeModelData data = SmallModel({{"<", "a"}, {"a", ">"}});
  data.added_tokens.push_back({static_cast<int32_t>(data.tokens.size()), "<a>", true});
  data.added_tokens.push_back({static_cast<int32_t>(data.tokens.size()) + 1, "<a><b>", true});
  data.added_tokens.push_back({static_cast<int32_t>(data.tokens.size()) + 2, kEndOfText, true});
  return *Tokenizer::FromModelData(data);
}

TEST(SpecialTokensTest, RecognisedOnlyWhenAllowed) {
  const Tokenizer t = SmallWithSpecials();
  const int32_t a = *t.TokenId("<a>"), ab = *t.TokenId("<a><b>"), eot = *t.TokenId(kEndOfText);
  EXPECT_EQ(t.eos_id(), eot);
  EXPECT_TRUE(t.IsSpecial(a) && t.IsSpecial(ab) && !t.IsSpecial(0) && !t.IsSpecial(-1));
  EXPECT_EQ(t.SpecialTokenStrings().size(), 3u);
  const std::string text = "x<a><b>y<a>z<|endoftext|>";
  auto allowed = *t.Encode(text, SpecialTokens::kAllow);
  auto as_text = *t.Encode(text, SpecialTokens::kAsText);
  EXPECT_EQ(std::count(allowed.begin(), allowed.end(), ab), 1);  // longest at the same place
  EXPECT_EQ(std::count(allowed.begin(), allowed.end(), a), 1);
  EXPECT_EQ(std::count(allowed.begin(), allowed.end(), eot), 1);
  for (const int32_t id : as_text) EXPECT_FALSE(t.IsSpecial(id));
  EXPECT_EQ(*t.Decode(allowed), text);
  EXPECT_EQ(*t.Decode(as_text), text);
  EXPECT_EQ(t.TokenBytes(eot), kEndOfText);
}

TEST(ErrorsTest, InvalidUtf8InputNamesTheOffset) {
  const Tokenizer t = SmallWithSpecials();
  auto ids = t.Encode("abc\xFF" "def", SpecialTokens::kAsText);
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(ids.status().message(), "byte offset 3")) << ids.status();
  auto batch = t.EncodeBatch({"fine", "also fine", "bad \xC0\x80"}, SpecialTokens::kAsText, 2);
  ASSERT_FALSE(batch.ok());
  EXPECT_TRUE(absl::StrContains(batch.status().message(), "text 2")) << batch.status();
  EXPECT_TRUE(absl::StrContains(batch.status().message(), "byte offset 4")) << batch.status();
}

TEST(ErrorsTest, DecodeNeverThrows) {
  const Tokenizer t = SmallWithSpecials();
  auto bad = t.Decode({1, 2, t.vocab_size()});
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), std::to_string(t.vocab_size())));
  EXPECT_FALSE(t.Decode({-5}).ok());
  EXPECT_EQ(t.TokenBytes(-1), "");
  EXPECT_EQ(t.TokenBytes(t.vocab_size()), "");
  // Any in-range id sequence decodes to valid UTF-8 (partial characters become U+FFFD).
  std::mt19937 rng(3);
  for (int k = 0; k < 2000; ++k) {
    std::vector<int32_t> ids(rng() % 8);
    for (auto& id : ids) id = static_cast<int32_t>(rng() % t.vocab_size());
    auto text = t.Decode(ids);
    ASSERT_TRUE(text.ok());
    EXPECT_TRUE(IsValidUtf8(*text));
  }
  const int32_t e2 = *t.TokenId("\xE2");
  EXPECT_EQ(*t.Decode({e2}), "\uFFFD");
}

TEST(ErrorsTest, BadModelDataIsRejected) {
  BpeModelData missing_byte = SmallModel({});
  missing_byte.tokens[5].clear();
  EXPECT_TRUE(absl::StrContains(Tokenizer::FromModelData(missing_byte).status().message(),
                                "no token for byte"));
  BpeModelData bad_merge = SmallModel({{"a", "b"}});
  bad_merge.merges.emplace_back(0, 9999);
  EXPECT_FALSE(Tokenizer::FromModelData(bad_merge).ok());
  BpeModelData unknown_result = SmallModel({});
  unknown_result.merges.emplace_back(0, 1);  // "!" + "\"" is not a token
  EXPECT_TRUE(absl::StrContains(Tokenizer::FromModelData(unknown_result).status().message(),
                                "not in the vocabulary"));
  BpeModelData duplicate = SmallModel({});
  duplicate.tokens.push_back("a");
  EXPECT_TRUE(absl::StrContains(Tokenizer::FromModelData(duplicate).status().message(),
                                "same bytes"));
}

// ---------------------------------------------------------------- files

TEST(FilesTest, RoundTripThroughBothFormats) {
  const Tokenizer t = SmallWithSpecials();
  testing::TempDir dir("tok_files");
  ASSERT_TRUE(t.SaveToDirectory(dir.path()).ok());
  const std::string text = "x<a><b>y <a> aa<|endoftext|>";
  auto from_dir = Tokenizer::FromDirectory(dir.path());  // prefers tokenizer.json
  ASSERT_TRUE(from_dir.ok()) << from_dir.status();
  EXPECT_EQ(from_dir->SpecialTokenStrings(), t.SpecialTokenStrings());
  EXPECT_EQ(*from_dir->Encode(text, SpecialTokens::kAllow), *t.Encode(text, SpecialTokens::kAllow));
  EXPECT_EQ(from_dir->TokenizerJson(), t.TokenizerJson());
  auto from_txt = Tokenizer::FromVocabAndMerges(dir / "vocab.json", dir / "merges.txt");
  ASSERT_TRUE(from_txt.ok()) << from_txt.status();
  EXPECT_EQ(*from_txt->Encode(text, SpecialTokens::kAsText), *t.Encode(text, SpecialTokens::kAsText));
  // vocab.json + merges.txt know only GPT-2's convention for specials.
  EXPECT_EQ(from_txt->SpecialTokenStrings(), std::vector<std::string>{kEndOfText});
}

TEST(FilesTest, TokenizerJsonFollowsHuggingFaceSchema) {
  const Tokenizer t = SmallWithSpecials();
  const auto j = nlohmann::json::parse(t.TokenizerJson());
  EXPECT_EQ(j["version"], "1.0");
  EXPECT_EQ(j["model"]["type"], "BPE");
  EXPECT_TRUE(j["model"]["dropout"].is_null());
  EXPECT_EQ(j["model"]["vocab"].size(), static_cast<size_t>(t.vocab_size()));
  EXPECT_EQ(j["model"]["vocab"]["\u0120"], *t.TokenId(" "));  // byte-level text keys
  EXPECT_EQ(j["model"]["merges"][0], "< a");
  EXPECT_EQ(j["pre_tokenizer"]["type"], "ByteLevel");
  EXPECT_EQ(j["pre_tokenizer"]["add_prefix_space"], false);
  EXPECT_EQ(j["pre_tokenizer"]["use_regex"], true);
  EXPECT_EQ(j["decoder"]["type"], "ByteLevel");
  EXPECT_TRUE(j["normalizer"].is_null());
  ASSERT_EQ(j["added_tokens"].size(), 3u);
  for (const char* key : {"id", "content", "single_word", "lstrip", "rstrip", "normalized",
                          "special"}) {
    EXPECT_TRUE(j["added_tokens"][0].contains(key)) << key;
  }
  EXPECT_EQ(j["added_tokens"][2]["content"], kEndOfText);
  EXPECT_EQ(j["added_tokens"][2]["special"], true);
}

TEST(FilesTest, LoadsTokenizerJsonVariants) {
  const Tokenizer t = SmallWithSpecials();
  testing::TempDir dir("tok_variants");
  auto j = nlohmann::json::parse(t.TokenizerJson());
  // tokenizers >= 0.20 write merges as pairs.
  for (auto& m : j["model"]["merges"]) {
    const std::string s = m;
    m = nlohmann::json::array({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
  }
  ASSERT_TRUE(WriteFileDurably(dir / "pairs.json", j.dump()).ok());
  auto pairs = Tokenizer::FromTokenizerJson(dir / "pairs.json");
  ASSERT_TRUE(pairs.ok()) << pairs.status();
  EXPECT_EQ(*pairs->Encode("<a> x", SpecialTokens::kAllow), *t.Encode("<a> x", SpecialTokens::kAllow));
}

TEST(FilesTest, BadFilesGiveClearErrors) {
  testing::TempDir dir("tok_bad");
  auto expect_error = [&](const std::string& name, const std::string& contents,
                          const std::string& needle) {
    ASSERT_TRUE(WriteFileDurably(dir / name, contents).ok());
    auto t = Tokenizer::FromTokenizerJson(dir / name);
    ASSERT_FALSE(t.ok()) << name;
    EXPECT_TRUE(absl::StrContains(t.status().message(), needle)) << t.status();
    EXPECT_TRUE(absl::StrContains(t.status().message(), name)) << t.status();
  };
  const std::string good = SmallWithSpecials().TokenizerJson();
  expect_error("not_json.json", "{oops", "not valid JSON");
  expect_error("no_model.json", "{}", "model");
  auto j = nlohmann::json::parse(good);
  j["model"]["type"] = "WordPiece";
  expect_error("wordpiece.json", j.dump(), "only \"BPE\"");
  j = nlohmann::json::parse(good);
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_error("whitespace.json", j.dump(), "pre_tokenizer");
  j = nlohmann::json::parse(good);
  j["pre_tokenizer"]["add_prefix_space"] = true;
  expect_error("prefix.json", j.dump(), "add_prefix_space");
  j = nlohmann::json::parse(good);
  j["model"]["merges"].push_back("zz qq");
  expect_error("merge.json", j.dump(), "not in the vocabulary");
  j = nlohmann::json::parse(good);
  j["model"]["vocab"] = "nope";
  expect_error("vocab_type.json", j.dump(), "JSON object");
  j = nlohmann::json::parse(good);
  j["model"]["vocab"]["huge"] = 1000000000;
  expect_error("sparse.json", j.dump(), "dense");
  j = nlohmann::json::parse(good);
  j["added_tokens"][0]["id"] = 900000000;
  expect_error("sparse_added.json", j.dump(), "dense");
  j = nlohmann::json::parse(good);
  j["added_tokens"][0]["id"] = "seven";
  expect_error("added.json", j.dump(), "added_tokens");

  EXPECT_EQ(Tokenizer::FromTokenizerJson(dir / "absent.json").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Tokenizer::FromDirectory(dir / "empty_dir").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(WriteFileDurably(dir / "v.json", R"({"a": 0})").ok());
  ASSERT_TRUE(WriteFileDurably(dir / "m.txt", "#version: 0.2\na b c\n").ok());
  auto t = Tokenizer::FromVocabAndMerges(dir / "v.json", dir / "m.txt");
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(absl::StrContains(t.status().message(), "line 2")) << t.status();
}

// ---------------------------------------------------------------- trainer

std::vector<std::string> SmallCorpus() {
  std::vector<std::string> texts;
  std::mt19937 rng(1);
  const std::vector<std::string> words = {"the", "cat", "sat", "on", "mat", "and", "dog",
                                          "ran", "away", "\u00fcber", "\u732b", "42", "!"};
  std::vector<std::string> rare;  // a long tail, so merges do not run out
  for (int i = 0; i < 300; ++i) {
    std::string w;
    for (size_t n = 3 + rng() % 6; w.size() < n;) w.push_back(static_cast<char>('a' + rng() % 26));
    rare.push_back(w);
  }
  for (int d = 0; d < 40; ++d) {
    std::string doc;
    for (int w = 0; w < 200; ++w) {
      doc += (w ? " " : "") + (rng() % 2 ? words[rng() % words.size()] : rare[rng() % rare.size()]);
      if (rng() % 17 == 0) doc += "\n";
    }
    doc += "<|endoftext|>";
    texts.push_back(doc);
  }
  return texts;
}

TEST(TrainerTest, DeterministicAcrossRunsAndThreads) {
  BpeTrainerOptions options;
  options.vocab_size = 300;
  options.threads = 1;
  auto a = TrainBpe(SmallCorpus(), options);
  options.threads = 3;
  auto b = TrainBpe(SmallCorpus(), options);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->TokenizerJson(), b->TokenizerJson());
  EXPECT_EQ(a->vocab_size(), 300);
  EXPECT_EQ(a->eos_id(), 299);  // specials after the merges
  EXPECT_EQ(a->num_merges(), 300 - 256 - 1);
}

TEST(TrainerTest, LearnsWordsAndRoundTrips) {
  BpeTrainerOptions options;
  options.vocab_size = 400;
  options.special_tokens = {kEndOfText, "<|pad|>"};
  const auto corpus = SmallCorpus();
  auto t = TrainBpe(corpus, options);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->TokenId(" cat").has_value());
  EXPECT_TRUE(t->TokenId(" \u00fcber").has_value());
  EXPECT_FALSE(t->TokenId("<|").has_value());  // special text is not learnt as ordinary text
  EXPECT_EQ(*t->Encode(" the cat", SpecialTokens::kAsText),
            (std::vector<int32_t>{*t->TokenId(" the"), *t->TokenId(" cat")}));
  testing::TempDir dir("trained");
  ASSERT_TRUE(t->SaveToDirectory(dir.path()).ok());
  auto reloaded = Tokenizer::FromDirectory(dir.path());
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  auto from_txt = Tokenizer::FromVocabAndMerges(dir / "vocab.json", dir / "merges.txt");
  ASSERT_TRUE(from_txt.ok()) << from_txt.status();
  for (const std::string& text : corpus) {
    const auto ids = *t->Encode(text, SpecialTokens::kAllow);
    EXPECT_EQ(*t->Decode(ids), text);
    EXPECT_EQ(*reloaded->Encode(text, SpecialTokens::kAllow), ids);
    EXPECT_EQ(*from_txt->Encode(text, SpecialTokens::kAsText),
              *t->Encode(text, SpecialTokens::kAsText));
  }
}

// Textbook trainer: recount every pair of every word before each merge; the most frequent pair
// wins, ties to the smaller (left id, right id). The incremental trainer must agree exactly.
std::vector<std::pair<std::string, std::string>> NaiveTrain(const std::vector<std::string>& texts,
                                                            int merges_wanted) {
  std::map<std::string, int64_t> counts;
  for (const auto& t : texts) {
    for (const auto& p : Pieces(t)) ++counts[p];
  }
  std::vector<std::string> tokens;
  std::map<std::string, int32_t> ids;
  for (const uint8_t b : ByteLevelOrder()) {
    ids[std::string(1, static_cast<char>(b))] = static_cast<int32_t>(tokens.size());
    tokens.emplace_back(1, static_cast<char>(b));
  }
  std::vector<std::pair<std::vector<int32_t>, int64_t>> words;
  for (const auto& [w, c] : counts) {
    std::vector<int32_t> s;
    for (const char ch : w) s.push_back(ids[std::string(1, ch)]);
    words.emplace_back(s, c);
  }
  std::vector<std::pair<std::string, std::string>> merges;
  while (static_cast<int>(merges.size()) < merges_wanted) {
    std::map<std::pair<int32_t, int32_t>, int64_t> pairs;
    for (const auto& [s, c] : words) {
      for (size_t i = 0; i + 1 < s.size(); ++i) pairs[{s[i], s[i + 1]}] += c;
    }
    std::pair<int32_t, int32_t> best{-1, -1};
    int64_t best_count = 0;
    for (const auto& [p, c] : pairs) {
      if (c > best_count) {  // std::map order: the first of equal counts is the smallest pair
        best = p;
        best_count = c;
      }
    }
    if (best_count < 2) break;
    const std::string bytes = tokens[best.first] + tokens[best.second];
    if (!ids.count(bytes)) {
      ids[bytes] = static_cast<int32_t>(tokens.size());
      tokens.push_back(bytes);
    }
    merges.emplace_back(tokens[best.first], tokens[best.second]);
    for (auto& [s, c] : words) {
      std::vector<int32_t> out;
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == best.first && s[i + 1] == best.second) {
          out.push_back(ids[bytes]);
          ++i;
        } else {
          out.push_back(s[i]);
        }
      }
      s = out;
    }
  }
  return merges;
}

TEST(TrainerTest, MatchesTextbookTrainer) {
  std::vector<std::string> texts = SmallCorpus();
  texts.push_back("aaaa aaaa aaa abab abab ababab");  // overlapping pairs, repeated bytes
  BpeTrainerOptions options;
  options.special_tokens = {};  // the textbook trainer knows none
  options.vocab_size = 256 + 150;
  auto t = TrainBpe(texts, options);
  ASSERT_TRUE(t.ok()) << t.status();
  const auto& data = t->model_data();
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& [l, r] : data.merges) got.emplace_back(data.tokens[l], data.tokens[r]);
  EXPECT_EQ(got.size(), 150u);
  EXPECT_EQ(got, NaiveTrain(texts, 150));
}

TEST(TrainerTest, StopsWhenPairsRunOutAndValidatesOptions) {
  BpeTrainerOptions options;
  options.vocab_size = 5000;
  auto t = TrainBpe({"ab ab ab"}, options);
  ASSERT_TRUE(t.ok());
  EXPECT_LT(t->vocab_size(), 5000);  // nothing left seen twice
  options.vocab_size = 100;
  EXPECT_FALSE(TrainBpe({"x"}, options).ok());
  options.vocab_size = 300;
  options.special_tokens = {"a", "a"};
  EXPECT_FALSE(options.Validate().ok());
  options.special_tokens = {};
  options.min_frequency = 0;
  EXPECT_FALSE(options.Validate().ok());
  options.min_frequency = 2;
  auto bad = TrainBpe({"ok", "bad\xFF"}, options);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "training text 1")) << bad.status();
}

}  // namespace
}  // namespace plume::core
