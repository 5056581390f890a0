// plume-serve's YAML configuration: every key read, unknown keys rejected with their line,
// rules checked with the key named; and the shipped configs/serve files load.
#include "services/serve_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace plume::services {
namespace {

using ::testing::HasSubstr;

TEST(ServeConfigTest, ReadsEveryKey) {
  absl::StatusOr<ServeConfig> config = ServeConfig::FromYaml(R"(
checkpoint: /models/demo
model_name: demo
listen: 0.0.0.0:9000
metrics_listen: 127.0.0.1:9100
threads: 2
drain_grace_seconds: 12.5
log_prompts: true
engine:
  max_running: 8
  max_waiting: 32
  max_step_tokens: 128
  max_context: 512
  weights: bfloat16
limits:
  max_prompt_tokens: 400
  max_new_tokens: 100
  default_max_tokens: 50
  max_request_bytes: 65536
tls:
  cert: server.pem
  key: server.key
  client_ca: ca.pem
auth:
  api_keys_file: keys.txt
)", "serve.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->checkpoint, "/models/demo");
  EXPECT_EQ(config->model_name, "demo");
  EXPECT_EQ(config->listen, "0.0.0.0:9000");
  EXPECT_EQ(config->metrics_listen, "127.0.0.1:9100");
  EXPECT_EQ(config->threads, 2);
  EXPECT_EQ(config->drain_grace_seconds, 12.5);
  EXPECT_TRUE(config->log_prompts);
  EXPECT_EQ(config->max_running, 8);
  EXPECT_EQ(config->max_waiting, 32);
  EXPECT_EQ(config->max_step_tokens, 128);
  EXPECT_EQ(config->max_context, 512);
  EXPECT_EQ(config->weights, "bfloat16");
  EXPECT_EQ(config->max_prompt_tokens, 400);
  EXPECT_EQ(config->max_new_tokens, 100);
  EXPECT_EQ(config->ResolvedDefaultMaxTokens(), 50);
  EXPECT_EQ(config->max_request_bytes, 65536);
  EXPECT_EQ(config->tls_cert, "server.pem");
  EXPECT_EQ(config->tls_key, "server.key");
  EXPECT_EQ(config->tls_client_ca, "ca.pem");
  EXPECT_EQ(config->api_keys_file, "keys.txt");
  EXPECT_TRUE(config->Validate().ok()) << config->Validate();
}

TEST(ServeConfigTest, UnknownKeysNameTheirLine) {
  absl::StatusOr<ServeConfig> config =
      ServeConfig::FromYaml("checkpoint: x\nengine:\n  max_runing: 3\n", "serve.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("serve.yaml:3"));
  EXPECT_THAT(config.status().message(), HasSubstr("engine.max_runing"));
}

TEST(ServeConfigTest, ValidateNamesTheKey) {
  auto invalid = [](auto mutate) {
    ServeConfig config;
    config.checkpoint = "x";
    mutate(config);
    return std::string(config.Validate().message());
  };
  EXPECT_THAT(invalid([](ServeConfig& c) { c.checkpoint = ""; }), HasSubstr("checkpoint"));
  EXPECT_THAT(invalid([](ServeConfig& c) { c.listen = "nowhere"; }), HasSubstr("listen"));
  EXPECT_THAT(invalid([](ServeConfig& c) { c.metrics_listen = "x:99999"; }),
              HasSubstr("metrics_listen"));
  EXPECT_THAT(invalid([](ServeConfig& c) { c.max_running = 0; }), HasSubstr("engine.max_running"));
  EXPECT_THAT(invalid([](ServeConfig& c) { c.max_step_tokens = 4; }),
              HasSubstr("engine.max_step_tokens"));
  EXPECT_THAT(invalid([](ServeConfig& c) { c.weights = "int8"; }), HasSubstr("engine.weights"));
  EXPECT_THAT(invalid([](ServeConfig& c) { c.max_new_tokens = 0; }),
              HasSubstr("limits.max_new_tokens"));
  EXPECT_THAT(invalid([](ServeConfig& c) { c.default_max_tokens = 2000; }),
              HasSubstr("limits.default_max_tokens"));
  EXPECT_THAT(invalid([](ServeConfig& c) { c.max_request_bytes = 10; }),
              HasSubstr("limits.max_request_bytes"));
  EXPECT_THAT(invalid([](ServeConfig& c) { c.tls_key = "k"; }), HasSubstr("tls.cert and tls.key"));
  EXPECT_THAT(invalid([](ServeConfig& c) { c.tls_client_ca = "ca"; }), HasSubstr("tls.client_ca"));
  EXPECT_THAT(invalid([](ServeConfig& c) { c.drain_grace_seconds = -1; }),
              HasSubstr("drain_grace_seconds"));
  ServeConfig small;
  small.max_new_tokens = 64;
  EXPECT_EQ(small.ResolvedDefaultMaxTokens(), 64);  // default follows a lower limit
}

TEST(ServeConfigTest, ShippedConfigsLoad) {
  int count = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(PLUME_SOURCE_DIR) + "/configs/serve")) {
    absl::StatusOr<ServeConfig> config = ServeConfig::FromYamlFile(entry.path().string());
    ASSERT_TRUE(config.ok()) << config.status();
    if (config->checkpoint.empty()) config->checkpoint = "set-by-flag";
    EXPECT_TRUE(config->Validate().ok()) << entry.path() << ": " << config->Validate();
    ++count;
  }
  EXPECT_GE(count, 1);
}

}  // namespace
}  // namespace plume::services
