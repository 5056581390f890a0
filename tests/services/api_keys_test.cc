// API keys: file parsing (errors never show a key) and the Bearer check.
#include "services/api_keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace plume::services {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKeys[] =
    "# team keys\n"
    "alpha-0123456789abcdef\n"
    "\n"
    "   beta-0123456789abcdef  \n";

TEST(ApiKeysTest, AcceptsExactlyTheConfiguredKeys) {
  absl::StatusOr<ApiKeys> keys = ApiKeys::FromText(kKeys, "keys.txt");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->size(), 2u);
  EXPECT_TRUE(keys->Check("Bearer alpha-0123456789abcdef").ok());
  EXPECT_TRUE(keys->Check("Bearer beta-0123456789abcdef").ok());
  EXPECT_TRUE(keys->Check("bearer beta-0123456789abcdef").ok());  // the scheme is case-insensitive
  for (const char* wrong : {"Bearer alpha-0123456789abcde", "Bearer alpha-0123456789abcdefg",
                            "Bearer ALPHA-0123456789abcdef", "Bearer ", "Bearer # team keys"}) {
    const absl::Status status = keys->Check(wrong);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << wrong;
    EXPECT_EQ(status.message(), "invalid API key") << wrong;
  }
  EXPECT_THAT(keys->Check("").message(), HasSubstr("missing API key"));
  EXPECT_THAT(keys->Check("alpha-0123456789abcdef").message(), HasSubstr("Bearer <key>"));
  EXPECT_THAT(keys->Check("Basic alpha-0123456789abcdef").message(), HasSubstr("Bearer <key>"));
}

TEST(ApiKeysTest, BadFilesNameTheLineButNotTheKey) {
  absl::StatusOr<ApiKeys> keys = ApiKeys::FromText("alpha-0123456789abcdef\nshortkey\n", "k.txt");
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(keys.status().message(), HasSubstr("k.txt:2: an API key must have 16 to 512"));
  EXPECT_THAT(keys.status().message(), Not(HasSubstr("shortkey")));

  keys = ApiKeys::FromText("alpha 0123456789abcdef\n", "k.txt");
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(keys.status().message(), HasSubstr("k.txt:1: an API key may only contain"));
  EXPECT_THAT(keys.status().message(), Not(HasSubstr("0123456789")));

  keys = ApiKeys::FromText("# nothing here\n\n", "k.txt");
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(keys.status().message(), HasSubstr("has no keys"));

  keys = ApiKeys::FromFile("/nonexistent/keys.txt");
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(keys.status().message(), HasSubstr("/nonexistent/keys.txt"));
}

}  // namespace
}  // namespace plume::services
