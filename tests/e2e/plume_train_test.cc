// plume-train end to end: the real binary on generated corpora.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_split.h"
#include "core/checkpoint.h"
#include "core/file_io.h"
#include "core/gpt.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/train_fixture.h"
#include "tests/subprocess.h"
#include "tests/test_util.h"

namespace plume::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kTrain = std::string(PLUME_BINARY_DIR) + "/trainer/plume-train";

class PlumeTrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    corpus_ = tmp_ / "corpus.txt";
    ASSERT_TRUE(core::WriteFileDurably(corpus_, GeneratedCorpus(600)).ok());
  }
  std::string WriteRecipe(const std::string& name, const std::string& text) {
    const std::string path = tmp_ / name;
    EXPECT_TRUE(core::WriteFileDurably(path, text).ok());
    return path;
  }
  CommandResult Train(const std::string& args) { return RunCommand(kTrain + " " + args); }

  // step -> loss of every training step logged in a run's metrics.jsonl.
  static std::map<int64_t, double> Losses(const std::string& run) {
    std::map<int64_t, double> out;
    auto text = core::ReadFile(run + "/metrics.jsonl");
    if (!text.ok()) return out;  // not started yet
    for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
      auto record = nlohmann::json::parse(line);
      if (record.contains("loss")) out[record["step"].get<int64_t>()] = record["loss"].get<double>();
    }
    return out;
  }

  TempDir tmp_{"plume_train"};
  std::string corpus_;
};

TEST_F(PlumeTrainTest, TrainsAndWritesLoadableCheckpoints) {
  const std::string run = tmp_ / "run";
  auto result = Train("--config " + WriteRecipe("r.yaml", TinyRecipe(corpus_, run, 20)));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("event=done step=20"));
  // Keeps the newest 2 (steps 15, 20) plus the best by validation loss.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(run + "/checkpoints")) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  ASSERT_GE(names.size(), 2u);
  ASSERT_LE(names.size(), 3u);
  EXPECT_EQ(names.back(), "step-00000020");
  const std::string last = run + "/checkpoints/step-00000020";
  for (const char* file : {"config.json", "model.safetensors", "vocab.json", "merges.txt", "tokenizer.json",
                           "trainer_state.json", "optimizer.safetensors"}) {
    EXPECT_TRUE(fs::exists(last + "/" + file)) << file;
  }
  auto model = core::LoadModel(last);
  ASSERT_TRUE(model.ok()) << model.status();
  // Validation loss fell from the untrained level (ln 384 = 5.95).
  auto losses = Losses(run);
  EXPECT_LT(losses.rbegin()->second, losses.begin()->second - 1.0);
  auto text = core::ReadFile(run + "/metrics.jsonl");
  EXPECT_THAT(*text, HasSubstr("\"val_loss\""));
}

// A run of 2N steps and a run of N steps resumed for N more log identical losses.
TEST_F(PlumeTrainTest, ResumeIsExact) {
  const std::string full = tmp_ / "full", split = tmp_ / "split";
  auto a = Train("--config " + WriteRecipe("full.yaml", TinyRecipe(corpus_, full, 16)));
  ASSERT_EQ(a.exit_code, 0) << a.output;
  auto b = Train("--config " + WriteRecipe("split.yaml", TinyRecipe(corpus_, split, 16)) + " --max_steps 8");
  ASSERT_EQ(b.exit_code, 0) << b.output;
  auto c = Train("--config " + (tmp_ / "split.yaml") + " --resume");
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_THAT(c.output, HasSubstr("event=resume checkpoint="));
  EXPECT_THAT(c.output, HasSubstr("event=corpus")) ;
  EXPECT_THAT(c.output, HasSubstr("cached=yes"));  // second run reuses the token shards
  auto expected = Losses(full), resumed = Losses(split);
  ASSERT_EQ(expected.size(), 16u);
  ASSERT_EQ(resumed.size(), 16u);
  for (const auto& [step, loss] : expected) EXPECT_EQ(resumed[step], loss) << "step " << step;
}

TEST_F(PlumeTrainTest, SigtermCheckpointsAndExitsZero) {
  const std::string run = tmp_ / "run";
  Subprocess train({kTrain, "--config", WriteRecipe("r.yaml", TinyRecipe(corpus_, run, 100000))}, tmp_ / "log");
  ASSERT_TRUE(train.started());
  // Wait until training is under way.
  for (int i = 0; i < 600 && train.Running(); ++i) {
    auto text = core::ReadFile(run + "/metrics.jsonl");
    if (text.ok() && text->find("\"step\":7,") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  train.Signal(SIGTERM);
  ASSERT_EQ(train.Wait(), 0) << train.Log();
  EXPECT_THAT(train.Log(), HasSubstr("event=stopped"));
  auto losses = Losses(run);
  const int64_t last_step = losses.rbegin()->first;
  char name[32];
  std::snprintf(name, sizeof(name), "step-%08lld", static_cast<long long>(last_step));
  EXPECT_TRUE(fs::exists(run + "/checkpoints/" + name + "/trainer_state.json")) << name << "\n" << train.Log();
}

// kill -9 at arbitrary moments (checkpoints are written at every step, so many kills land
// inside one) never damages the newest complete checkpoint, and the resumed run ends with the
// losses of an uninterrupted one.
TEST_F(PlumeTrainTest, KillNineNeverCorruptsAndResumeStaysExact) {
  auto recipe = [&](const std::string& dir) {
    return absl::StrReplaceAll(TinyRecipe(corpus_, tmp_ / dir, 120),
                               {{"checkpoint:\n  every: 5", "checkpoint:\n  every: 1"}});
  };
  const std::string killed_yaml = WriteRecipe("killed.yaml", recipe("killed"));
  auto clean = Train("--config " + WriteRecipe("clean.yaml", recipe("clean")));
  ASSERT_EQ(clean.exit_code, 0) << clean.output;

  std::mt19937 rng(11);
  int kills_mid_training = 0;
  for (int attempt = 0; attempt < 12 && kills_mid_training < 6; ++attempt) {
    std::vector<std::string> argv = {kTrain, "--config", killed_yaml, "--resume"};
    Subprocess train(argv, tmp_ / "killed.log");
    // Kill once it trains: at a random moment after its next logged step.
    const size_t before = Losses(tmp_ / "killed").size();
    for (int i = 0; i < 400 && train.Running(); ++i) {
      if (fs::exists(tmp_ / "killed/metrics.jsonl") && Losses(tmp_ / "killed").size() > before) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 150000));
    if (!train.Running()) break;  // finished before the kill
    train.Signal(SIGKILL);
    train.Wait();
    ++kills_mid_training;
    // Whatever was interrupted, every listed checkpoint is complete and loads.
    for (const auto& e : fs::directory_iterator(tmp_ / "killed/checkpoints")) {
      const std::string name = e.path().filename();
      if (name.find(".tmp-") != std::string::npos) continue;
      auto model = core::LoadModel(e.path());
      EXPECT_TRUE(model.ok()) << name << ": " << model.status();
    }
  }
  EXPECT_GE(kills_mid_training, 6);
  auto finish = Train("--config " + killed_yaml + " --resume");
  ASSERT_EQ(finish.exit_code, 0) << finish.output;
  auto expected = Losses(tmp_ / "clean"), resumed = Losses(tmp_ / "killed");
  ASSERT_EQ(resumed.size(), expected.size());
  for (const auto& [step, loss] : expected) EXPECT_EQ(resumed[step], loss) << "step " << step;
}

TEST_F(PlumeTrainTest, ClearErrors) {
  const std::string run = tmp_ / "run";
  // Unknown key: named with its line.
  auto r = Train("--config " + WriteRecipe("bad.yaml", TinyRecipe(corpus_, run, 5, "extra_key: 1\n")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("unknown key 'extra_key'"));
  EXPECT_THAT(r.output, HasSubstr("bad.yaml:"));
  // Missing corpus.
  r = Train("--config " + WriteRecipe("missing.yaml", TinyRecipe(tmp_ / "nope.txt", run, 5)));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("matches no file"));
  // Empty corpus.
  ASSERT_TRUE(core::WriteFileDurably(tmp_ / "empty.txt", "").ok());
  r = Train("--config " + WriteRecipe("empty.yaml", TinyRecipe(tmp_ / "empty.txt", tmp_ / "run_empty", 5)));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("no documents"));
  // Corpus shorter than one context window.
  ASSERT_TRUE(core::WriteFileDurably(tmp_ / "short.txt", "A short text.\n\nAnother one.\n\n" + GeneratedCorpus(3)).ok());
  r = Train("--config " + WriteRecipe("short.yaml", TinyRecipe(tmp_ / "short.txt", tmp_ / "run_short", 5)));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("fewer than one context window"));
  // Output directory of another run.
  ASSERT_EQ(Train("--config " + WriteRecipe("ok.yaml", TinyRecipe(corpus_, run, 2))).exit_code, 0);
  r = Train("--config " + (tmp_ / "ok.yaml"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("holds another run"));
  // Tokenizer/model vocabulary mismatch: the run's 384-token tokenizer with a 100-token model.
  std::string small = TinyRecipe(corpus_, tmp_ / "run_vocab", 2);
  small = absl::StrReplaceAll(small, {{"vocab_size: 384", "vocab_size: 100"}});
  r = Train("--config " + WriteRecipe("vocab.yaml", small + "tokenizer: " + run + "/tokenizer\n"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("vocab_size"));
  // Every error is one line.
  for (const auto& out : {r.output}) EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

TEST_F(PlumeTrainTest, FineTunesPromptCompletionOnCompletionTokensOnly) {
  const std::string base = tmp_ / "base";
  ASSERT_EQ(Train("--config " + WriteRecipe("base.yaml", TinyRecipe(corpus_, base, 5))).exit_code, 0);
  std::string jsonl;
  std::mt19937 rng(5);
  for (int i = 0; i < 300; ++i) {
    const int a = rng() % 50, b = rng() % 50;
    jsonl += "{\"prompt\": \"Add " + std::to_string(a) + " and " + std::to_string(b) +
             ":\", \"completion\": \" " + std::to_string(a + b) + ".\"}\n";
  }
  ASSERT_TRUE(core::WriteFileDurably(tmp_ / "pairs.jsonl", jsonl).ok());
  std::string recipe = TinyRecipe(tmp_ / "pairs.jsonl", tmp_ / "tuned", 10);
  recipe = absl::StrReplaceAll(recipe, {{"format: text", "format: prompt_completion"}, {"  document_separator: \"\\n\\n\"\n", ""}});
  // Fine-tuning starts from the base checkpoint (its shape and tokenizer), not `model:`.
  auto r = Train("--config " + WriteRecipe("tune.yaml", recipe) + " --init " + base + "/checkpoints/step-00000005");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto losses = Losses(tmp_ / "tuned");
  EXPECT_LT(losses.rbegin()->second, losses.begin()->second);
}

}  // namespace
}  // namespace plume::testing
