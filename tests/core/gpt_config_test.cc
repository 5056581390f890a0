#include "core/gpt_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace plume::core {
namespace {

using ::testing::HasSubstr;

TEST(GptConfigTest, DefaultsAreGpt2Small) {
  GptConfig config;
  EXPECT_TRUE(config.Validate().ok());
  EXPECT_EQ(config.NumParameters(), 124439808);  // GPT-2 124M, lm_head tied
}

TEST(GptConfigTest, ParsesYaml) {
  auto config = GptConfig::FromYaml("n_layer: 2\nn_head: 4\nn_embd: 64\nn_positions: 128\n"
                                    "vocab_size: 300\ndropout: 0.1\nbias: false\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->n_layer, 2);
  EXPECT_EQ(config->n_head, 4);
  EXPECT_EQ(config->n_embd, 64);
  EXPECT_EQ(config->head_dim(), 16);
  EXPECT_EQ(config->vocab_size, 300);
  EXPECT_DOUBLE_EQ(config->dropout, 0.1);
  EXPECT_FALSE(config->bias);
}

TEST(GptConfigTest, UnknownYamlKeyNamesKeyAndLine) {
  auto config = GptConfig::FromYaml("n_layer: 2\nn_heads: 4\n", "model.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("model.yaml:2"));
  EXPECT_THAT(config.status().message(), HasSubstr("unknown key 'n_heads'"));
}

TEST(GptConfigTest, WrongYamlTypeNamesKey) {
  auto config = GptConfig::FromYaml("n_layer: two\n", "m.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("m.yaml:1"));
  EXPECT_THAT(config.status().message(), HasSubstr("'n_layer'"));
}

TEST(GptConfigTest, MalformedYamlIsAnError) {
  auto config = GptConfig::FromYaml("n_layer: [1,\n", "m.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("invalid YAML"));
  EXPECT_FALSE(GptConfig::FromYaml("- 1\n- 2\n").ok());  // not a mapping
}

TEST(GptConfigTest, ValidateRejectsImpossibleShapes) {
  GptConfig config;
  config.n_embd = 100;
  config.n_head = 3;
  EXPECT_THAT(config.Validate().message(), HasSubstr("divisible by n_head"));
  config = GptConfig();
  config.n_layer = 0;
  EXPECT_THAT(config.Validate().message(), HasSubstr("n_layer"));
  config = GptConfig();
  config.vocab_size = -5;
  EXPECT_THAT(config.Validate().message(), HasSubstr("vocab_size"));
  config = GptConfig();
  config.dropout = 1.0;
  EXPECT_THAT(config.Validate().message(), HasSubstr("dropout"));
  config = GptConfig();
  config.layer_norm_epsilon = 0;
  EXPECT_THAT(config.Validate().message(), HasSubstr("layer_norm_epsilon"));
  config = GptConfig();
  config.n_positions = 0;
  EXPECT_THAT(config.Validate().message(), HasSubstr("n_positions"));
}

TEST(GptConfigTest, HfJsonRoundTrip) {
  GptConfig config;
  config.n_layer = 3;
  config.n_head = 2;
  config.n_embd = 32;
  config.n_positions = 64;
  config.vocab_size = 99;
  config.layer_norm_epsilon = 1e-6;
  auto parsed = GptConfig::FromHfJson(config.ToHfJson());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, config);
}

TEST(GptConfigTest, ParsesRealGpt2ConfigJson) {
  // The config.json published with OpenAI's GPT-2 on the Hugging Face hub.
  const char* json = R"({"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
    "attn_pdrop": 0.1, "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256,
    "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024,
    "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1,
    "summary_activation": null, "summary_first_dropout": 0.1, "summary_proj_to_labels": true,
    "summary_type": "cls_index", "summary_use_proj": true,
    "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}},
    "vocab_size": 50257})";
  auto config = GptConfig::FromHfJson(json);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->n_layer, 12);
  EXPECT_EQ(config->vocab_size, 50257);
  EXPECT_DOUBLE_EQ(config->dropout, 0.1);
}

TEST(GptConfigTest, InvalidHfJsonNamesProblem) {
  EXPECT_THAT(GptConfig::FromHfJson("{not json").status().message(), HasSubstr("not valid JSON"));
  EXPECT_THAT(GptConfig::FromHfJson("[1]").status().message(), HasSubstr("JSON object"));
  EXPECT_THAT(GptConfig::FromHfJson(R"({"n_layer": 2})").status().message(),
              HasSubstr("missing key 'n_head'"));
  EXPECT_THAT(GptConfig::FromHfJson(R"({"n_layer": "2", "n_head": 1, "n_embd": 8,
      "n_positions": 8, "vocab_size": 8})").status().message(),
              HasSubstr("'n_layer' must be an integer"));
  EXPECT_THAT(GptConfig::FromHfJson(R"({"model_type": "llama", "n_layer": 2, "n_head": 1,
      "n_embd": 8, "n_positions": 8, "vocab_size": 8})").status().message(),
              HasSubstr("model_type"));
  EXPECT_THAT(GptConfig::FromHfJson(R"({"n_layer": 2, "n_head": 3, "n_embd": 8,
      "n_positions": 8, "vocab_size": 8})").status().message(),
              HasSubstr("divisible"));
}

}  // namespace
}  // namespace plume::core
