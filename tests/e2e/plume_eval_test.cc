// plume-eval end to end: the real binaries (plume-train makes a tiny run, plume-eval scores it),
// the table, eval.json and report.html (rendered by headless Chromium), and bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/file_io.h"
#include "core/sha256.h"
#include "core/tokenizer.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/train_fixture.h"
#include "tests/test_util.h"

namespace plume::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kTrain = std::string(PLUME_BINARY_DIR) + "/trainer/plume-train";
const std::string kEval = std::string(PLUME_BINARY_DIR) + "/trainer/plume-eval";
constexpr char kChromium[] = "/usr/bin/chromium";

// Lines of `output` that are plume-eval's error messages.
std::vector<std::string> ErrorLines(const std::string& output) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (absl::StartsWith(line, "plume-eval: ")) out.emplace_back(line);
  }
  return out;
}

nlohmann::json ReadJson(const std::string& path) {
  auto text = core::ReadFile(path);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? nlohmann::json::parse(*text) : nlohmann::json();
}

class PlumeEvalTest : public ::testing::Test {
 protected:
  // One tiny run (checkpoints at steps 5 and 10) and two held-out corpora per test process.
  void SetUp() override {
    const std::string corpus = tmp_ / "train.txt";
    ASSERT_TRUE(core::WriteFileDurably(corpus, GeneratedCorpus(600)).ok());
    run_ = tmp_ / "run";
    ASSERT_TRUE(core::WriteFileDurably(tmp_ / "r.yaml", TinyRecipe(corpus, run_, 10)).ok());
    auto trained = RunCommand(kTrain + " --config " + (tmp_ / "r.yaml"));
    ASSERT_EQ(trained.exit_code, 0) << trained.output;
    held_txt_ = tmp_ / "held.txt";
    ASSERT_TRUE(core::WriteFileDurably(held_txt_, GeneratedCorpus(30, 99)).ok());
    held_jsonl_ = tmp_ / "held.jsonl";
    std::string jsonl;
    for (absl::string_view doc : absl::StrSplit(GeneratedCorpus(20, 77), "\n\n", absl::SkipEmpty())) {
      absl::StrAppend(&jsonl, nlohmann::json({{"text", std::string(doc)}}).dump(), "\n");
    }
    ASSERT_TRUE(core::WriteFileDurably(held_jsonl_, jsonl).ok());
  }
  CommandResult Eval(const std::string& args) { return RunCommand(kEval + " " + args); }
  std::string Step(int step) const { return run_ + (step == 5 ? "/checkpoints/step-00000005" : "/checkpoints/step-00000010"); }

  TempDir tmp_{"plume_eval"};
  std::string run_, held_txt_, held_jsonl_;
};

TEST_F(PlumeEvalTest, EvaluatesARunInStepOrder) {
  const std::string out = tmp_ / "report";
  auto r = Eval("--run " + run_ + " --corpus " + held_txt_ + " --corpus " + held_jsonl_ +
                " --document_separator '\\n\\n' --prompt 'The river' --max_new_tokens 8 --output_dir " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The table: both checkpoints on both corpora, in step order, the best marked, report paths.
  const size_t at5 = r.output.find("run/step-00000005"), at10 = r.output.find("run/step-00000010");
  ASSERT_NE(at5, std::string::npos) << r.output;
  ASSERT_NE(at10, std::string::npos) << r.output;
  EXPECT_LT(at5, at10);
  EXPECT_THAT(r.output, HasSubstr("token_ce"));
  EXPECT_THAT(r.output, HasSubstr("bits/byte"));
  EXPECT_THAT(r.output, HasSubstr("* best (lowest) on that corpus"));
  EXPECT_THAT(r.output, HasSubstr("report: " + out + "/report.html"));
  EXPECT_THAT(r.output, HasSubstr("tokens_per_sec="));

  const auto j = ReadJson(out + "/eval.json");
  ASSERT_EQ(j["checkpoints"].size(), 2u);
  EXPECT_EQ(j["checkpoints"][0]["step"], 5);
  EXPECT_EQ(j["checkpoints"][1]["step"], 10);
  EXPECT_EQ(j["plume_version"], PLUME_VERSION);
  EXPECT_FALSE(j["date"].get<std::string>().empty());
  EXPECT_THAT(j["command"].get<std::string>(), HasSubstr("--run " + run_));
  EXPECT_EQ(j["config"]["document_separator"], "\n\n");
  EXPECT_EQ(j["corpora"][0]["files"][0]["sha256"], *core::Sha256OfFile(held_txt_));
  EXPECT_EQ(j["corpora"][0]["documents"], 30);
  EXPECT_EQ(j["corpora"][1]["documents"], 20);
  for (const auto& c : j["checkpoints"]) {
    EXPECT_EQ(c["status"], "ok");
    EXPECT_EQ(c["weights_sha256"], *core::Sha256OfFile(c["dir"].get<std::string>() + "/model.safetensors"));
    EXPECT_EQ(c["max_length"], 64);  // the model's n_positions
    EXPECT_EQ(c["stride"], 64);
    EXPECT_EQ(c["tokenizer"]["vocab_size"], 384);
    ASSERT_EQ(c["results"].size(), 2u);
    for (const auto& m : c["results"]) {
      const double nll = m["nll_sum"], ce = m["token_cross_entropy"];
      EXPECT_GT(m["tokens"].get<int64_t>(), m["documents"].get<int64_t>());
      EXPECT_NEAR(ce, nll / m["tokens"].get<double>(), 1e-12);
      EXPECT_NEAR(m["token_perplexity"].get<double>(), std::exp(ce), 1e-9 * std::exp(ce));
      EXPECT_NEAR(m["bits_per_byte"].get<double>(), nll / m["bytes"].get<double>() / std::log(2.0), 1e-12);
      EXPECT_GT(m["tokens_per_second"].get<double>(), 0);
      // Below the uniform guess ln(384) = 5.95: the checkpoints learnt something.
      EXPECT_LT(ce, 5.9);
    }
    ASSERT_EQ(c["continuations"].size(), 1u);
    EXPECT_EQ(c["continuations"][0]["prompt"], "The river");
  }
  EXPECT_EQ(j["best"][held_txt_]["token_cross_entropy"], "run/step-00000010");
  ASSERT_EQ(j["runs"].size(), 1u);
  EXPECT_GT(j["runs"][0]["train_loss_points"].get<int>(), 0);
  auto html = core::ReadFile(out + "/report.html");
  ASSERT_TRUE(html.ok());
  EXPECT_THAT(*html, HasSubstr("<svg"));
}

TEST_F(PlumeEvalTest, CheckpointsByListRepeatAndPosition) {
  const std::string out = tmp_ / "report";
  auto r = Eval("--checkpoint " + Step(10) + "," + Step(5) + " --checkpoint " + Step(10) + " --corpus " +
                held_txt_ + " --output_dir " + out + " --batch_size 2 --stride 16 " + Step(5));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = ReadJson(out + "/eval.json");
  ASSERT_EQ(j["checkpoints"].size(), 4u);
  const std::vector<int> steps = {10, 5, 10, 5};
  for (size_t i = 0; i < steps.size(); ++i) EXPECT_EQ(j["checkpoints"][i]["step"], steps[i]) << i;
  // The same checkpoint gives the same numbers; overlapping windows (stride 16) were used.
  EXPECT_EQ(j["checkpoints"][0]["results"][0]["nll_sum"], j["checkpoints"][2]["results"][0]["nll_sum"]);
  EXPECT_EQ(j["checkpoints"][0]["stride"], 16);
  EXPECT_EQ(j["checkpoints"][0]["run_dir"], run_);
}

TEST_F(PlumeEvalTest, CorruptCheckpointFailsAloneInItsRun) {
  const std::string copy = tmp_ / "copy";
  fs::copy(run_, copy, fs::copy_options::recursive);
  auto weights = core::ReadFile(copy + "/checkpoints/step-00000005/model.safetensors");
  ASSERT_TRUE(weights.ok());
  ASSERT_TRUE(core::WriteFileDurably(copy + "/checkpoints/step-00000005/model.safetensors", weights->substr(0, 1000)).ok());
  const std::string out = tmp_ / "report";
  auto r = Eval("--run " + copy + " --corpus " + held_txt_ + " --output_dir " + out);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  const auto errors = ErrorLines(r.output);
  ASSERT_EQ(errors.size(), 1u) << r.output;
  EXPECT_THAT(errors[0], HasSubstr("copy/step-00000005 FAILED: "));
  EXPECT_THAT(errors[0], HasSubstr("model.safetensors"));
  EXPECT_THAT(r.output, HasSubstr("copy/step-00000010"));
  const auto j = ReadJson(out + "/eval.json");
  ASSERT_EQ(j["checkpoints"].size(), 2u);
  EXPECT_EQ(j["checkpoints"][0]["status"], "failed");
  EXPECT_EQ(j["checkpoints"][1]["status"], "ok");
  EXPECT_THAT(*core::ReadFile(out + "/report.html"), HasSubstr("FAILED"));
}

TEST_F(PlumeEvalTest, NonCheckpointDirectoryFailsAlone) {
  const std::string out = tmp_ / "report";
  auto r = Eval("--checkpoint " + tmp_.path() + "," + Step(10) + " --corpus " + held_txt_ + " --output_dir " + out);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  const auto errors = ErrorLines(r.output);
  ASSERT_EQ(errors.size(), 1u) << r.output;
  EXPECT_THAT(errors[0], HasSubstr("has no config.json"));
  const auto j = ReadJson(out + "/eval.json");
  EXPECT_EQ(j["checkpoints"][0]["status"], "failed");
  EXPECT_EQ(j["checkpoints"][1]["status"], "ok");
}

TEST_F(PlumeEvalTest, MismatchedTokenizer) {
  // A tokenizer with more tokens than the model's 384 embeddings.
  core::BpeTrainerOptions options;
  options.vocab_size = 512;
  auto big = core::TrainBpe({GeneratedCorpus(600)}, options);
  ASSERT_TRUE(big.ok());
  ASSERT_GT(big->vocab_size(), 384);
  const std::string big_dir = tmp_ / "big_tokenizer";
  fs::create_directories(big_dir);
  ASSERT_TRUE(big->SaveToDirectory(big_dir).ok());
  // Given for every checkpoint: all fail.
  auto r = Eval("--run " + run_ + " --corpus " + held_txt_ + " --tokenizer " + big_dir + " --output_dir " + (tmp_ / "a"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const auto errors = ErrorLines(r.output);
  ASSERT_EQ(errors.size(), 2u) << r.output;
  for (const auto& e : errors) EXPECT_THAT(e, HasSubstr("tokenizer mismatch")) << e;
  EXPECT_THAT(errors[0], HasSubstr("512 tokens but the model's vocab_size is 384"));
  // One checkpoint shipped with the wrong tokenizer: only it fails.
  const std::string wrong = tmp_ / "wrong";
  fs::copy(Step(10), wrong, fs::copy_options::recursive);
  ASSERT_TRUE(big->SaveToDirectory(wrong).ok());
  r = Eval("--checkpoint " + wrong + "," + Step(10) + " --corpus " + held_txt_ + " --output_dir " + (tmp_ / "b"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  ASSERT_EQ(ErrorLines(r.output).size(), 1u) << r.output;
  EXPECT_THAT(ErrorLines(r.output)[0], HasSubstr("wrong FAILED: tokenizer mismatch"));
}

TEST_F(PlumeEvalTest, BadInputIsOneLineError) {
  ASSERT_TRUE(core::WriteFileDurably(tmp_ / "empty.txt", "").ok());
  ASSERT_TRUE(core::WriteFileDurably(tmp_ / "latin1.txt", "caf\xE9\n").ok());
  fs::create_directories(tmp_ / "not_a_run");
  const std::string ok_corpus = " --corpus " + held_txt_;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--run " + run_ + " --corpus " + (tmp_ / "empty.txt"), "has no documents"},
      {"--run " + run_ + ok_corpus + " --corpus " + (tmp_ / "missing.txt"), "matches no file"},
      {"--run " + (tmp_ / "not_a_run") + ok_corpus, "has no checkpoints"},
      {"--run " + (tmp_ / "nowhere") + ok_corpus, "does not exist"},
      {"--run " + run_, "give at least one --corpus"},
      {ok_corpus, "give checkpoints"},
      {"--run " + run_ + ok_corpus + " --stride -1", "stride=-1"},
      {"--run " + run_ + ok_corpus + " --max_length 8 --stride 9", "stride=9 exceeds"},
      {"--run " + run_ + ok_corpus + " --format csv", "format 'csv'"},
      {"--run " + run_ + " --corpus " + held_jsonl_ + " --format jsonl --text_field body", "no field 'body'"},
      {"--run " + run_ + " --corpus " + (tmp_ / "latin1.txt"), "invalid UTF-8 at byte offset 3 (pass --replace_invalid_utf8"},
  };
  for (const auto& [args, message] : cases) {
    auto r = Eval(args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.output;
    const auto errors = ErrorLines(r.output);
    ASSERT_EQ(errors.size(), 1u) << args << "\n" << r.output;
    EXPECT_THAT(errors[0], HasSubstr(message)) << args;
    EXPECT_THAT(r.output, Not(HasSubstr("report:"))) << args;  // nothing was evaluated
  }
}

// The HTML report rendered by a real browser engine: its DOM holds the charts and their labels.
TEST_F(PlumeEvalTest, ReportRendersInHeadlessChromium) {
  ASSERT_TRUE(fs::exists(kChromium)) << kChromium << " is missing: run scripts/setup.sh (apt package chromium)";
  const std::string out = tmp_ / "report";
  auto r = Eval("--run " + run_ + " --corpus " + held_txt_ + " --document_separator '\\n\\n' --output_dir " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string profile = tmp_ / "chromium-profile";
  auto dom = RunCommand(absl::StrCat(
      "timeout 120 ", kChromium,
      " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
      " --disable-component-update --disable-sync --user-data-dir=",
      profile, " --dump-dom file://", out, "/report.html 2>/dev/null"));
  ASSERT_EQ(dom.exit_code, 0) << dom.output;
  for (const char* id : {"chart-token_cross_entropy", "chart-word_perplexity", "chart-bits_per_byte", "chart-run-0"}) {
    EXPECT_THAT(dom.output, HasSubstr(absl::StrCat("<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"", id, "\"")))
        << id;
  }
  EXPECT_THAT(dom.output, HasSubstr("<path class=\"series\" data-series=\"training loss\" d=\"M"));
  EXPECT_THAT(dom.output, HasSubstr("<path class=\"series\" data-series=\"validation loss\" d=\"M"));
  EXPECT_THAT(dom.output, HasSubstr(absl::StrCat("<path class=\"series\" data-series=\"", held_txt_, "\" d=\"M")));
  EXPECT_THAT(dom.output, HasSubstr(">run/step-00000005</text>"));  // x-axis labels of the metric charts
  EXPECT_THAT(dom.output, HasSubstr(">run/step-00000010</text>"));
  EXPECT_THAT(dom.output, HasSubstr("class=\"best\""));
}

}  // namespace
}  // namespace plume::testing
