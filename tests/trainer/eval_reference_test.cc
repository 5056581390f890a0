// plume-eval's metrics against an independent reference (tests/reference/eval_reference.py:
// the harness's rolling windows in its own formulation, one unbatched PyTorch GPT-2 forward per
// window, Python's re/bytes counting), on a small checkpoint this test creates. The windows are
// checked at the model's context and with overlapping strides; all metrics agree within 1e-4
// relative.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/checkpoint.h"
#include "core/file_io.h"
#include "core/gpt.h"
#include "core/tokenizer.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/train_fixture.h"
#include "tests/test_util.h"
#include "trainer/corpus.h"

namespace plume::trainer {
namespace {

using plume::testing::RunCommand;
using plume::testing::TempDir;

const std::string kEval = std::string(PLUME_BINARY_DIR) + "/trainer/plume-eval";
const std::string kScript = std::string(PLUME_SOURCE_DIR) + "/tests/reference/eval_reference.py";

// Documents separated by blank lines: generated prose, long documents spanning many windows,
// one-token documents, Unicode whitespace the word count must treat as Python's \s does,
// multi-byte characters, leading and trailing whitespace.
std::string Corpus() {
  std::string long_doc;
  for (int i = 0; i < 12; ++i) {
    absl::StrAppend(&long_doc, absl::StrReplaceAll(plume::testing::GeneratedCorpus(1, 100 + i), {{"\n\n", " "}}));
  }
  std::string text = plume::testing::GeneratedCorpus(12);
  absl::StrAppend(&text, long_doc, "\n\n", "A\n\n", "x\n\n",
                  "  leading and trailing spaces \n\n",
                  "Caf\xC3\xA9 na\xC3\xAFve \xE2\x80\x94 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E text\n\n",
                  "no\xC2\xA0" "break\xE3\x80\x80ideographic\xE2\x80\x83" "em\x1C" "sep\tand\x0B" "vt\n\n",
                  plume::testing::GeneratedCorpus(2, 55));
  return text;
}

class EvalReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    corpus_ = tmp_ / "corpus.txt";
    ASSERT_TRUE(core::WriteFileDurably(corpus_, Corpus()).ok());
    data_.format = CorpusFormat::kText;
    data_.document_separator = "\n\n";
    auto docs = ReadDocuments({corpus_}, data_);
    ASSERT_TRUE(docs.ok()) << docs.status();
    std::vector<std::string> texts;
    for (const Document& d : *docs) texts.push_back(d.text);
    core::BpeTrainerOptions options;
    options.vocab_size = 320;
    options.threads = 1;
    auto tokenizer = core::TrainBpe(texts, options);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();

    // Weights far from the small-init regime, so predictions depend strongly on the context
    // and on positions: a window that reads the wrong tokens changes the numbers visibly.
    torch::manual_seed(5);
    core::GptConfig config;
    config.n_layer = 2;
    config.n_head = 2;
    config.n_embd = 32;
    config.n_positions = 24;
    config.vocab_size = tokenizer->vocab_size() + 3;
    core::Gpt model(config);
    {
      torch::NoGradGuard no_grad;
      for (auto& p : model->parameters()) {
        if (p.dim() == 2) p.mul_(12.0);
        else p.add_(torch::randn_like(p) * 0.2);
      }
    }
    checkpoint_ = tmp_ / "ckpt";
    ASSERT_TRUE(core::SaveCheckpoint(checkpoint_, *model, [&](const std::string& dir) {
                  return tokenizer->SaveToDirectory(dir);
                }).ok());

    // The reference takes Plume's token ids (tokenization has its own reference tests) and
    // splits and counts the text itself.
    auto saved = core::Tokenizer::FromDirectory(checkpoint_);
    ASSERT_TRUE(saved.ok()) << saved.status();
    nlohmann::json ids;
    ids["eot"] = *saved->eos_id();
    ids["documents"] = nlohmann::json::array();
    for (const std::string& text : texts) {
      auto encoded = saved->Encode(text, core::SpecialTokens::kAsText);
      ASSERT_TRUE(encoded.ok()) << encoded.status();
      ids["documents"].push_back(*encoded);
      if (encoded->size() == 1) ++one_token_documents_;
      longest_ = std::max(longest_, encoded->size());
    }
    ASSERT_TRUE(core::WriteFileDurably(tmp_ / "ids.json", ids.dump()).ok());
  }

  // plume-eval's and the reference's results for one window setting.
  void Compare(int max_length, int stride, int batch_size, double* nll) {
    SCOPED_TRACE(absl::StrCat("max_length=", max_length, " stride=", stride, " batch_size=", batch_size));
    const std::string out = tmp_ / absl::StrCat("out_", max_length, "_", stride);
    auto ours = RunCommand(absl::StrCat(kEval, " --checkpoint ", checkpoint_, " --corpus ", corpus_,
                                        " --document_separator '\\n\\n' --max_length ", max_length, " --stride ",
                                        stride, " --batch_size ", batch_size, " --output_dir ", out));
    ASSERT_EQ(ours.exit_code, 0) << ours.output;
    auto ref = RunCommand(absl::StrCat(plume::testing::kDebianPython, " ", kScript, " --checkpoint ", checkpoint_,
                                       " --corpus ", corpus_, " --separator '\\n\\n' --ids ", tmp_ / "ids.json",
                                       " --max_length ", max_length, " --stride ", stride, " --out ",
                                       tmp_ / "ref.json"));
    ASSERT_EQ(ref.exit_code, 0) << ref.output;
    auto report = nlohmann::json::parse(*core::ReadFile(out + "/eval.json"));
    auto expected = nlohmann::json::parse(*core::ReadFile(tmp_ / "ref.json"));
    ASSERT_EQ(report["checkpoints"].size(), 1u);
    ASSERT_EQ(report["checkpoints"][0]["status"], "ok") << report["checkpoints"][0].dump();
    const auto& got = report["checkpoints"][0]["results"][0];
    for (const char* count : {"documents", "tokens", "words", "bytes"}) {
      EXPECT_EQ(got[count].get<int64_t>(), expected[count].get<int64_t>()) << count;
    }
    for (const char* metric : {"nll_sum", "token_cross_entropy", "token_perplexity", "word_perplexity",
                               "byte_perplexity", "bits_per_byte"}) {
      const double a = got[metric].get<double>(), b = expected[metric].get<double>();
      EXPECT_LE(std::abs(a - b), 1e-4 * std::abs(b)) << metric << ": plume " << a << " reference " << b;
      max_relative_diff_ = std::max(max_relative_diff_, std::abs(a - b) / std::abs(b));
    }
    *nll = expected["nll_sum"].get<double>();
  }

  TempDir tmp_{"eval_reference"};
  std::string corpus_, checkpoint_;
  DataConfig data_;
  int one_token_documents_ = 0;
  size_t longest_ = 0;
  double max_relative_diff_ = 0;
};

TEST_F(EvalReferenceTest, MatchesHarnessStyleReference) {
  // The corpus exercises what it should.
  EXPECT_GE(one_token_documents_, 1);
  EXPECT_GT(longest_, 6u * 24u);  // many windows at n_positions = 24

  double disjoint = 0, overlapping = 0, short_windows = 0;
  Compare(0, 0, 4, &disjoint);          // the harness default: windows of n_positions, disjoint
  Compare(0, 5, 3, &overlapping);       // overlapping: 5 new tokens per window, 19+ of context
  Compare(16, 7, 2, &short_windows);    // a shorter window than the model's context
  // The settings change the numbers 10x beyond the tolerance, so the comparison can fail.
  EXPECT_GT(std::abs(disjoint - overlapping), 1e-3 * disjoint);
  EXPECT_GT(std::abs(disjoint - short_windows), 1e-3 * disjoint);
  std::printf("largest relative difference plume vs reference: %.3g\n", max_relative_diff_);
}

}  // namespace
}  // namespace plume::trainer
