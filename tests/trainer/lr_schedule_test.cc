#include "trainer/lr_schedule.h"

#include <gtest/gtest.h>

namespace plume::trainer {
namespace {

TEST(LrScheduleTest, WarmupThenCosineToFloor) {
  LrSchedule s{ScheduleKind::kCosine, 1.0, 10, 110, 0.1};
  ASSERT_TRUE(s.Validate().ok());
  EXPECT_DOUBLE_EQ(s.LearningRate(0), 0.1);
  EXPECT_DOUBLE_EQ(s.LearningRate(4), 0.5);
  EXPECT_DOUBLE_EQ(s.LearningRate(10), 1.0);
  EXPECT_NEAR(s.LearningRate(60), 0.55, 1e-12);  // half way: floor + (peak - floor) / 2
  EXPECT_NEAR(s.LearningRate(110), 0.1, 1e-12);
  EXPECT_NEAR(s.LearningRate(500), 0.1, 1e-12);
}

TEST(LrScheduleTest, LinearAndConstant) {
  LrSchedule linear{ScheduleKind::kLinear, 2.0, 0, 100, 0.0};
  EXPECT_DOUBLE_EQ(linear.LearningRate(0), 2.0);
  EXPECT_DOUBLE_EQ(linear.LearningRate(50), 1.0);
  EXPECT_DOUBLE_EQ(linear.LearningRate(100), 0.0);
  LrSchedule constant{ScheduleKind::kConstant, 0.5, 4, 0, 0.1};
  EXPECT_DOUBLE_EQ(constant.LearningRate(1), 0.25);
  EXPECT_DOUBLE_EQ(constant.LearningRate(1000), 0.5);
}

TEST(LrScheduleTest, ValidationNamesField) {
  LrSchedule s;
  s.peak_lr = -1;
  EXPECT_NE(std::string(s.Validate().message()).find("lr"), std::string::npos);
  s = LrSchedule{};
  s.warmup_steps = 50;
  s.decay_steps = 10;
  EXPECT_NE(std::string(s.Validate().message()).find("decay_steps"), std::string::npos);
  EXPECT_FALSE(ParseScheduleKind("step").ok());
  EXPECT_EQ(*ParseScheduleKind("linear"), ScheduleKind::kLinear);
}

}  // namespace
}  // namespace plume::trainer
