// Evaluator: batched window scoring against plain per-token computations with the model's own
// forward(), invariance to batching, greedy continuations against a cache-free decoder, and
// the per-checkpoint failures plume-eval reports.
#include "trainer/evaluator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/checkpoint.h"
#include "core/file_io.h"
#include "core/gpt.h"
#include "core/sha256.h"
#include "tests/e2e/train_fixture.h"
#include "tests/test_util.h"
#include "trainer/run_setup.h"

namespace plume::trainer {
namespace {

using ::testing::HasSubstr;
using plume::testing::TempDir;

core::GptConfig SmallConfig(int vocab_size) {
  core::GptConfig config;
  config.n_layer = 2;
  config.n_head = 2;
  config.n_embd = 32;
  config.n_positions = 16;
  config.vocab_size = vocab_size;
  return config;
}

// A model whose predictions depend clearly on context and position.
core::Gpt RandomModel(const core::GptConfig& config, uint64_t seed) {
  torch::manual_seed(seed);
  core::Gpt model(config);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) {
    if (p.dim() == 2) p.mul_(10.0);
  }
  model->eval();
  return model;
}

std::vector<TokenizedDocument> RandomDocuments(int count, int vocab, int eot, uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<TokenizedDocument> docs;
  for (int d = 0; d < count; ++d) {
    const int64_t n = 1 + torch::randint(60, {1}).item<int64_t>();
    TokenizedDocument doc;
    doc.ids.push_back(eot);
    auto ids = torch::randint(vocab, {n}, torch::kInt64);
    for (int64_t i = 0; i < n; ++i) doc.ids.push_back(static_cast<int32_t>(ids[i].item<int64_t>()));
    docs.push_back(std::move(doc));
  }
  return docs;
}

// -log p(S[t]) for every scored token t, each from model.forward on the `max_length` tokens
// before it (fewer at the start) — the sliding window, computed one token at a time.
double SlidingNll(core::GptImpl& model, const std::vector<TokenizedDocument>& docs, int max_length) {
  torch::NoGradGuard no_grad;
  double nll = 0;
  for (const auto& doc : docs) {
    for (size_t t = doc.context; t < doc.ids.size(); ++t) {
      const size_t begin = t > static_cast<size_t>(max_length) ? t - max_length : 0;
      std::vector<int64_t> window(doc.ids.begin() + begin, doc.ids.begin() + t);
      auto logits = model.forward(torch::tensor(window).unsqueeze(0));  // [1, T, V]
      nll -= torch::log_softmax(logits[0][-1].to(torch::kFloat64), -1)[doc.ids[t]].item<double>();
    }
  }
  return nll;
}

TEST(ScoreDocumentsTest, SlidingWindowsEqualPerTokenForward) {
  const auto config = SmallConfig(50);
  core::Gpt model = RandomModel(config, 1);
  const auto docs = RandomDocuments(6, 50, 49, 2);
  const ScoreStats stats = ScoreDocuments(*model, docs, 16, /*stride=*/1, /*batch_size=*/4);
  const double expected = SlidingNll(*model, docs, 16);
  EXPECT_NEAR(stats.nll, expected, 1e-5 * expected);
  int64_t tokens = 0;
  for (const auto& d : docs) tokens += static_cast<int64_t>(d.ids.size()) - 1;
  EXPECT_EQ(stats.tokens, tokens);
}

// Disjoint windows: a document of at most max_length tokens is one forward pass over
// [EOT, t0, ..., t(n-2)]; a longer one restarts with one token of context per window.
TEST(ScoreDocumentsTest, DisjointWindowsEqualChunkedForward) {
  const auto config = SmallConfig(50);
  core::Gpt model = RandomModel(config, 3);
  const auto docs = RandomDocuments(5, 50, 49, 4);
  torch::NoGradGuard no_grad;
  double expected = 0;
  for (const auto& doc : docs) {
    const int64_t n = static_cast<int64_t>(doc.ids.size()) - 1;
    // Chunks of the scored tokens: the first 16, then 16 each, the last one with a full window.
    for (int64_t first = 0; first < n; first += 16) {
      const int64_t last = std::min(n, first + 16);  // predicts S[first+1 .. last]
      const int64_t begin = first == 0 ? 0 : std::max<int64_t>(0, last - 16);
      std::vector<int64_t> window(doc.ids.begin() + begin, doc.ids.begin() + last);
      auto logp = torch::log_softmax(model->forward(torch::tensor(window).unsqueeze(0))[0].to(torch::kFloat64), -1);
      for (int64_t s = first + 1; s <= last; ++s) expected -= logp[s - 1 - begin][doc.ids[s]].item<double>();
    }
  }
  const ScoreStats stats = ScoreDocuments(*model, docs, 16, 16, 2);
  EXPECT_NEAR(stats.nll, expected, 1e-5 * expected);
}

TEST(ScoreDocumentsTest, BatchingDoesNotChangeTheResult) {
  const auto config = SmallConfig(50);
  core::Gpt model = RandomModel(config, 5);
  const auto docs = RandomDocuments(20, 50, 49, 6);
  const ScoreStats one = ScoreDocuments(*model, docs, 16, 5, 1);
  for (int batch : {2, 7, 1000}) {
    const ScoreStats many = ScoreDocuments(*model, docs, 16, 5, batch);
    EXPECT_NEAR(many.nll, one.nll, 1e-6 * one.nll) << batch;
    EXPECT_EQ(many.tokens, one.tokens);
    EXPECT_EQ(many.windows, one.windows);
    EXPECT_LT(many.forward_passes, one.forward_passes) << batch;
  }
}

// Short windows share the token budget (batch_size * max_length): 20 three-token documents with
// batch_size 2 and max_length 16 take floor(32 / 3) = 10 windows per pass.
TEST(ScoreDocumentsTest, PacksShortWindows) {
  core::Gpt model = RandomModel(SmallConfig(50), 8);
  std::vector<TokenizedDocument> docs(20);
  for (auto& d : docs) d.ids = {49, 1, 2, 3};
  const ScoreStats stats = ScoreDocuments(*model, docs, 16, 16, 2);
  EXPECT_EQ(stats.windows, 20);
  EXPECT_EQ(stats.forward_passes, 2);
  EXPECT_EQ(stats.tokens, 60);
  EXPECT_EQ(stats.positions, 60);
}

TEST(GreedyContinuationTest, MatchesDecodingWithoutCache) {
  TempDir tmp("greedy");
  core::BpeTrainerOptions options;
  options.vocab_size = 280;
  options.threads = 1;
  auto tokenizer = core::TrainBpe({plume::testing::GeneratedCorpus(50)}, options);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  auto config = SmallConfig(tokenizer->vocab_size());
  config.n_positions = 32;
  core::Gpt model = RandomModel(config, 7);
  auto text = GreedyContinuation(*model, *tokenizer, "The river and the", 12);
  ASSERT_TRUE(text.ok()) << text.status();

  torch::NoGradGuard no_grad;
  std::vector<int64_t> ids = {*tokenizer->eos_id()};
  auto prompt = tokenizer->Encode("The river and the", core::SpecialTokens::kAsText);
  ASSERT_TRUE(prompt.ok());
  for (int32_t id : *prompt) ids.push_back(id);
  std::vector<int32_t> generated;
  for (int i = 0; i < 12; ++i) {
    const int64_t next = model->forward(torch::tensor(ids).unsqueeze(0))[0][-1].argmax().item<int64_t>();
    if (next == *tokenizer->eos_id()) break;
    generated.push_back(static_cast<int32_t>(next));
    ids.push_back(next);
  }
  EXPECT_EQ(*text, *tokenizer->Decode(generated));
  EXPECT_FALSE(text->empty());
}

class EvaluatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core::BpeTrainerOptions options;
    options.vocab_size = 300;
    options.threads = 1;
    auto tokenizer = core::TrainBpe({plume::testing::GeneratedCorpus(80)}, options);
    ASSERT_TRUE(tokenizer.ok());
    tokenizer_dir_ = tmp_ / "tokenizer";
    std::filesystem::create_directories(tokenizer_dir_);
    ASSERT_TRUE(tokenizer->SaveToDirectory(tokenizer_dir_).ok());
    checkpoint_ = Save("ckpt", SmallConfig(tokenizer->vocab_size()), *tokenizer);

    ASSERT_TRUE(core::WriteFileDurably(tmp_ / "held.txt", plume::testing::GeneratedCorpus(15, 99)).ok());
    DataConfig data;
    data.document_separator = "\n\n";
    auto corpus = LoadEvalCorpus(tmp_ / "held.txt", data);
    ASSERT_TRUE(corpus.ok()) << corpus.status();
    corpora_.push_back(std::move(*corpus));
  }
  std::string Save(const std::string& name, const core::GptConfig& config, const core::Tokenizer& tokenizer) {
    core::Gpt model = RandomModel(config, 11);
    const std::string dir = tmp_ / name;
    EXPECT_TRUE(core::SaveCheckpoint(dir, *model, [&](const std::string& d) { return tokenizer.SaveToDirectory(d); }).ok());
    return dir;
  }

  TempDir tmp_{"evaluator"};
  std::string checkpoint_, tokenizer_dir_;
  std::vector<EvalCorpus> corpora_;
};

TEST_F(EvaluatorTest, EvaluatesWithProvenance) {
  EvalOptions options;
  options.prompts = {"The city"};
  options.max_new_tokens = 5;
  Evaluator evaluator(corpora_, options);
  CheckpointResult r = evaluator.Evaluate(DescribeCheckpoint(checkpoint_));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.max_length, 16);
  EXPECT_EQ(r.stride, 16);
  EXPECT_EQ(r.weights_sha256, *core::Sha256OfFile(checkpoint_ + "/model.safetensors"));
  EXPECT_EQ(r.tokenizer_fingerprint, *TokenizerFingerprint(checkpoint_));
  ASSERT_EQ(r.corpora.size(), 1u);
  const CorpusResult& c = r.corpora[0];
  EXPECT_EQ(c.sums.documents, 15);
  EXPECT_EQ(c.sums.words, corpora_[0].words);
  EXPECT_GT(c.sums.tokens, 15);
  EXPECT_DOUBLE_EQ(c.metrics.token_cross_entropy, c.sums.nll / static_cast<double>(c.sums.tokens));
  ASSERT_EQ(r.continuations.size(), 1u);
  EXPECT_EQ(r.continuations[0].prompt, "The city");
}

TEST_F(EvaluatorTest, FailuresAreOneLineAndDoNotStopOthers) {
  Evaluator evaluator(corpora_, EvalOptions{});
  // Not a checkpoint.
  CheckpointResult r = evaluator.Evaluate(DescribeCheckpoint(tmp_.path()));
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.error, HasSubstr("config.json"));
  EXPECT_EQ(r.error.find('\n'), std::string::npos) << r.error;
  // Corrupt weights.
  const std::string corrupt = tmp_ / "corrupt";
  std::filesystem::copy(checkpoint_, corrupt);
  ASSERT_TRUE(core::WriteFileDurably(corrupt + "/model.safetensors", "\x10\x00\x00\x00\x00\x00\x00\x00{bad").ok());
  r = evaluator.Evaluate(DescribeCheckpoint(corrupt));
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.error, HasSubstr("model.safetensors"));
  EXPECT_EQ(r.error.find('\n'), std::string::npos) << r.error;
  // A model too small for its tokenizer.
  auto tokenizer = core::Tokenizer::FromDirectory(tokenizer_dir_);
  const std::string small = Save("small", SmallConfig(200), *tokenizer);
  r = evaluator.Evaluate(DescribeCheckpoint(small));
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.error, HasSubstr("tokenizer mismatch"));
  // The good one still evaluates after all that.
  EXPECT_TRUE(evaluator.Evaluate(DescribeCheckpoint(checkpoint_)).ok());
}

TEST_F(EvaluatorTest, WindowSettingsAreChecked) {
  EvalOptions options;
  options.max_length = 17;  // the model has 16 positions
  Evaluator evaluator(corpora_, options);
  CheckpointResult r = evaluator.Evaluate(DescribeCheckpoint(checkpoint_));
  EXPECT_THAT(r.error, HasSubstr("n_positions=16"));
  options.max_length = 0;
  options.stride = 17;
  r = Evaluator(corpora_, options).Evaluate(DescribeCheckpoint(checkpoint_));
  EXPECT_THAT(r.error, HasSubstr("stride=17"));
  EvalOptions bad;
  bad.max_length = 8;
  bad.stride = 9;
  EXPECT_FALSE(bad.Validate().ok());
  bad.stride = 0;
  bad.batch_size = 0;
  EXPECT_FALSE(bad.Validate().ok());
}

// prompt_completion: the prompt is context, only the completion is scored and counted.
TEST_F(EvaluatorTest, PromptCompletionScoresTheCompletionOnly) {
  ASSERT_TRUE(core::WriteFileDurably(tmp_ / "pc.jsonl",
                                     "{\"prompt\": \"The river and the stone\", \"completion\": \" were light.\"}\n"
                                     "{\"prompt\": \"Music in winter\", \"completion\": \" is a garden of silver.\"}\n")
                  .ok());
  DataConfig data;
  data.format = CorpusFormat::kPromptCompletion;
  auto with_prompt = LoadEvalCorpus(tmp_ / "pc.jsonl", data);
  ASSERT_TRUE(with_prompt.ok()) << with_prompt.status();
  EXPECT_EQ(with_prompt->words, CountWords(" were light.") + CountWords(" is a garden of silver."));
  EXPECT_EQ(with_prompt->bytes, 12 + 23);
  std::vector<EvalCorpus> corpora = {*with_prompt};
  // The same completions without their prompts.
  corpora.push_back(*with_prompt);
  for (Document& d : corpora[1].documents) d.prompt.clear();
  corpora[1].name = "no prompt";
  CheckpointResult r = Evaluator(corpora, EvalOptions{}).Evaluate(DescribeCheckpoint(checkpoint_));
  ASSERT_TRUE(r.ok()) << r.error;
  auto tokenizer = core::Tokenizer::FromDirectory(checkpoint_);
  int64_t completion_tokens = 0;
  for (const char* c : {" were light.", " is a garden of silver."}) {
    completion_tokens += static_cast<int64_t>(tokenizer->Encode(c, core::SpecialTokens::kAsText)->size());
  }
  EXPECT_EQ(r.corpora[0].sums.tokens, completion_tokens);
  EXPECT_EQ(r.corpora[1].sums.tokens, completion_tokens);
  EXPECT_NE(r.corpora[0].sums.nll, r.corpora[1].sums.nll);  // the prompt was read as context
}

TEST_F(EvaluatorTest, EmptyCorpusIsAnError) {
  ASSERT_TRUE(core::WriteFileDurably(tmp_ / "empty.txt", "").ok());
  auto corpus = LoadEvalCorpus(tmp_ / "empty.txt", DataConfig{});
  ASSERT_FALSE(corpus.ok());
  EXPECT_THAT(corpus.status().message(), HasSubstr("has no documents"));
}

}  // namespace
}  // namespace plume::trainer
