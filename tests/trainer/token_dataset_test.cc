#include "trainer/token_dataset.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "core/file_io.h"
#include "tests/e2e/train_fixture.h"
#include "tests/test_util.h"

namespace plume::trainer {
namespace {

using plume::testing::TempDir;

core::Tokenizer SmallTokenizer(const std::string& corpus) {
  core::BpeTrainerOptions options;
  options.vocab_size = 300;
  auto tokenizer = core::TrainBpe({corpus}, options);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return *tokenizer;
}

TEST(TokenDatasetTest, SplitsByDocumentCachesAndSeparatesWithEndOfText) {
  TempDir tmp("dataset");
  const std::string text = plume::testing::GeneratedCorpus(200);
  ASSERT_TRUE(core::WriteFileDurably(tmp / "c.txt", text).ok());
  const core::Tokenizer tokenizer = SmallTokenizer(text);
  DataConfig data;
  data.train = {tmp / "c.txt"};
  data.document_separator = "\n\n";
  data.validation_fraction = 0.2;
  auto first = PrepareCorpus(data, tokenizer, "tok-a", tmp / "cache", 2);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->from_cache);
  EXPECT_EQ(first->train_documents + first->validation_documents, 200);
  EXPECT_GT(first->validation_documents, 20);
  EXPECT_LT(first->validation_documents, 60);
  // One <|endoftext|> after every document.
  const int32_t eot = *tokenizer.eos_id();
  int64_t separators = 0;
  for (int64_t i = 0; i < first->train.size(); ++i) separators += first->train.tokens()[i] == static_cast<uint32_t>(eot);
  EXPECT_EQ(separators, first->train_documents);
  EXPECT_EQ(first->train.mask(), nullptr);
  // Same corpus, same tokenizer: the cache answers. Another tokenizer: another cache entry.
  auto second = PrepareCorpus(data, tokenizer, "tok-a", tmp / "cache", 2);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->from_cache);
  EXPECT_EQ(second->cache_dir, first->cache_dir);
  EXPECT_EQ(second->train.size(), first->train.size());
  auto other = PrepareCorpus(data, tokenizer, "tok-b", tmp / "cache", 2);
  EXPECT_NE(other->cache_dir, first->cache_dir);
  // Changed content: a new key.
  ASSERT_TRUE(core::WriteFileDurably(tmp / "c.txt", text + "More text.\n\n").ok());
  auto changed = PrepareCorpus(data, tokenizer, "tok-a", tmp / "cache", 2);
  EXPECT_NE(changed->cache_dir, first->cache_dir);
}

TEST(TokenDatasetTest, PromptTokensAreNotTargets) {
  TempDir tmp("dataset");
  ASSERT_TRUE(core::WriteFileDurably(tmp / "p.jsonl", "{\"prompt\": \"Question one?\", \"completion\": \" Yes.\"}\n").ok());
  const core::Tokenizer tokenizer = SmallTokenizer("Question one? Yes. Question two? No.");
  DataConfig data;
  data.train = {tmp / "p.jsonl"};
  data.validation = {tmp / "p.jsonl"};
  data.format = CorpusFormat::kPromptCompletion;
  auto corpus = PrepareCorpus(data, tokenizer, "t", tmp / "cache", 1);
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  const auto prompt = *tokenizer.Encode("Question one?", core::SpecialTokens::kAsText);
  const auto completion = *tokenizer.Encode(" Yes.", core::SpecialTokens::kAsText);
  ASSERT_EQ(corpus->train.size(), static_cast<int64_t>(prompt.size() + completion.size() + 1));
  ASSERT_NE(corpus->train.mask(), nullptr);
  for (size_t i = 0; i < prompt.size(); ++i) EXPECT_EQ(corpus->train.mask()[i], 0);
  for (int64_t i = prompt.size(); i < corpus->train.size(); ++i) EXPECT_EQ(corpus->train.mask()[i], 1);
  // A window over it: targets inside the prompt are ignored.
  WindowSampler sampler(corpus->train, static_cast<int>(corpus->train.size()) - 1, 1, false);
  ASSERT_EQ(sampler.num_windows(), 1);
  MicroBatch batch = sampler.Batch(0, 1);
  for (size_t t = 0; t + 1 < prompt.size(); ++t) EXPECT_EQ(batch.targets[0][t].item<int64_t>(), kIgnoreIndex);
  EXPECT_EQ(batch.targets[0][prompt.size() - 1].item<int64_t>(), completion[0]);
}

TEST(TokenDatasetTest, WindowSamplerVisitsEveryWindowOncePerEpochDeterministically) {
  TempDir tmp("dataset");
  std::vector<uint32_t> tokens(1001);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint32_t>(i);
  ASSERT_TRUE(core::WriteFileDurably(tmp / "s.tokens", absl::string_view(reinterpret_cast<const char*>(tokens.data()), tokens.size() * 4)).ok());
  auto shard = TokenShard::Open(tmp.path(), "s");
  ASSERT_TRUE(shard.ok()) << shard.status();
  WindowSampler a(*shard, 10, 42, true), b(*shard, 10, 42, true), c(*shard, 10, 43, true);
  ASSERT_EQ(a.num_windows(), 100);
  for (int epoch = 0; epoch < 2; ++epoch) {
    auto batch = a.Batch(epoch * 100, 100);
    std::set<int64_t> starts;
    for (int i = 0; i < 100; ++i) {
      const int64_t start = batch.inputs[i][0].item<int64_t>();
      EXPECT_EQ(start % 10, 0);
      EXPECT_EQ(batch.targets[i][9].item<int64_t>(), start + 10);  // next-token targets
      starts.insert(start);
    }
    EXPECT_EQ(starts.size(), 100u);
  }
  EXPECT_TRUE(torch::equal(a.Batch(150, 7).inputs, b.Batch(150, 7).inputs));  // pure function of index
  EXPECT_FALSE(torch::equal(a.Batch(0, 20).inputs, c.Batch(0, 20).inputs));   // seed matters
  EXPECT_FALSE(torch::equal(a.Batch(0, 20).inputs, a.Batch(100, 20).inputs)); // new order each epoch
}

}  // namespace
}  // namespace plume::trainer
