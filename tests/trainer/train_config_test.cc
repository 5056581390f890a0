#include "trainer/train_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace plume::trainer {
namespace {

using ::testing::HasSubstr;

TEST(TrainConfigTest, ParsesTheDemoRecipes) {
  for (const char* name : {"demo-pretrain.yaml", "demo-finetune.yaml"}) {
    auto config = TrainConfig::FromYamlFile(std::string(PLUME_SOURCE_DIR) + "/configs/train/" + name);
    ASSERT_TRUE(config.ok()) << name << ": " << config.status();
    EXPECT_FALSE(config->data.train.empty());
  }
  auto pretrain = TrainConfig::FromYamlFile(std::string(PLUME_SOURCE_DIR) + "/configs/train/demo-pretrain.yaml");
  ASSERT_TRUE(pretrain->model.has_value());
  EXPECT_EQ(pretrain->model->vocab_size, 8192);
  EXPECT_TRUE(pretrain->Validate().ok()) << pretrain->Validate();
  // Every demo corpus separates documents with a "%" line; the held-out chapters validate.
  EXPECT_EQ(pretrain->data.document_separator, "\n%\n");
  EXPECT_EQ(pretrain->data.validation, std::vector<std::string>{"runs/demo/data/kjv-heldout.txt"});
  EXPECT_TRUE(pretrain->adam.decoupled_weight_decay);
  // The fine-tune recipe needs --init: without it validation says so.
  auto finetune = TrainConfig::FromYamlFile(std::string(PLUME_SOURCE_DIR) + "/configs/train/demo-finetune.yaml");
  EXPECT_THAT(std::string(finetune->Validate().message()), HasSubstr("init"));
}

TEST(TrainConfigTest, UnknownKeysNameSectionAndLine) {
  auto config = TrainConfig::FromYaml("output_dir: x\ntraining:\n  seq_len: 8\n  batchsize: 4\n", "r.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("r.yaml:4: unknown key 'training.batchsize'"));
  config = TrainConfig::FromYaml("model:\n  n_layers: 2\n", "r.yaml");
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("unknown key 'model.n_layers'"));
}

TEST(TrainConfigTest, BadValuesAreNamed) {
  auto parse = [](const std::string& extra, const std::string& data = "{train: c.txt}") {
    return TrainConfig::FromYaml("model: {n_layer: 1, n_head: 1, n_embd: 8, n_positions: 512, vocab_size: 300}\n"
                                 "output_dir: out\ndata: " + data + "\n" + extra, "r.yaml");
  };
  EXPECT_TRUE(parse("")->Validate().ok());
  EXPECT_THAT(std::string(parse("training: {seq_len: 1024}\n")->Validate().message()), HasSubstr("n_positions"));
  EXPECT_THAT(std::string(parse("optimizer: {name: sgd}\n")->Validate().message()), HasSubstr("optimizer.name"));
  EXPECT_THAT(std::string(parse("optimizer: {betas: [0.9]}\n").status().message()), HasSubstr("betas"));
  EXPECT_THAT(std::string(parse("schedule: {kind: step}\n").status().message()), HasSubstr("r.yaml:"));
  EXPECT_THAT(std::string(parse("", "{train: c.txt, format: csv}").status().message()), HasSubstr("data.format"));
  EXPECT_THAT(std::string(parse("training: {batch_size: 0}\n")->Validate().message()), HasSubstr("training.batch_size"));
}

TEST(TrainConfigTest, IdentityIgnoresMaxStepsAndOutputDir) {
  TrainConfig a;
  a.output_dir = "x";
  TrainConfig b = a;
  b.max_steps = 5000;
  b.output_dir = "y";
  EXPECT_EQ(a.IdentityJson(), b.IdentityJson());
  b.seed = 99;
  EXPECT_NE(a.IdentityJson(), b.IdentityJson());
}

}  // namespace
}  // namespace plume::trainer
