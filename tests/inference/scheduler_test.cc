#include "inference/scheduler.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace plume::inference {
namespace {

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() : vocab_(*Vocabulary::Create(std::vector<std::string>(16, "x"), {}, 0)) {}

  std::unique_ptr<Sequence> Make(RequestId id, int prompt_len) {
    return std::make_unique<Sequence>(id, std::vector<int32_t>(prompt_len, 1), SamplingParams(),
                                      vocab_, 0, nullptr);
  }
  // What the engine does after a step: the chunk's tokens are cached; a sampling chunk appends
  // the next token.
  static void Complete(const std::vector<ScheduledChunk>& chunks) {
    for (const ScheduledChunk& c : chunks) {
      c.sequence->num_cached += c.num_tokens;
      if (c.samples) c.sequence->tokens.push_back(2);
    }
  }

  Vocabulary vocab_;
};

TEST_F(SchedulerTest, OptionsAreValidated) {
  EXPECT_TRUE((SchedulerOptions{4, 4}.Validate().ok()));
  EXPECT_FALSE((SchedulerOptions{0, 4}.Validate().ok()));
  EXPECT_FALSE((SchedulerOptions{8, 4}.Validate().ok()));
}

TEST_F(SchedulerTest, AdmitsUpToTheLimitsLowestSlotsFirst) {
  SlotAllocator slots(4);
  Scheduler scheduler({/*max_running=*/3, /*max_step_tokens=*/64}, slots);
  for (RequestId id = 1; id <= 5; ++id) scheduler.Enqueue(Make(id, 2));
  int admitted = 0;
  const auto chunks = scheduler.Schedule(absl::Now(), &admitted);
  EXPECT_EQ(admitted, 3);
  EXPECT_EQ(scheduler.num_running(), 3);
  EXPECT_EQ(scheduler.num_waiting(), 2);
  ASSERT_EQ(chunks.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(chunks[i].sequence->id, static_cast<RequestId>(i + 1));
    EXPECT_EQ(chunks[i].sequence->slot, i);
  }
  // Removing the middle one frees slot 1, which the next admission takes.
  auto removed = scheduler.Remove(2);
  ASSERT_NE(removed, nullptr);
  EXPECT_EQ(removed->slot, -1);
  const auto next = scheduler.Schedule(absl::Now(), &admitted);
  EXPECT_EQ(admitted, 1);
  bool found = false;
  for (const ScheduledChunk& c : next) {
    if (c.sequence->id == 4) {
      EXPECT_EQ(c.sequence->slot, 1);
      found = true;
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(scheduler.Remove(99), nullptr);
  EXPECT_NE(scheduler.Remove(5), nullptr);  // still waiting
  EXPECT_EQ(scheduler.num_waiting(), 0);
}

TEST_F(SchedulerTest, SlotsBoundRunningSequences) {
  SlotAllocator slots(2);
  Scheduler scheduler({/*max_running=*/8, /*max_step_tokens=*/64}, slots);
  for (RequestId id = 1; id <= 3; ++id) scheduler.Enqueue(Make(id, 1));
  scheduler.Schedule(absl::Now());
  EXPECT_EQ(scheduler.num_running(), 2);
  EXPECT_EQ(scheduler.num_waiting(), 1);
  EXPECT_EQ(slots.num_free(), 0);
}

// A long prompt is prefilled in chunks while the decoding sequences get a token every step, and
// no step exceeds the token budget.
TEST_F(SchedulerTest, ChunkedPrefillNeverStallsDecoding) {
  SlotAllocator slots(4);
  Scheduler scheduler({/*max_running=*/4, /*max_step_tokens=*/8}, slots);
  scheduler.Enqueue(Make(1, 3));
  scheduler.Enqueue(Make(2, 2));
  Complete(scheduler.Schedule(absl::Now()));  // both prompts fit: 5 tokens
  scheduler.Enqueue(Make(3, 20));             // joins the running batch
  int steps_for_long_prompt = 0;
  bool long_prompt_sampled = false;
  while (!long_prompt_sampled) {
    const auto chunks = scheduler.Schedule(absl::Now());
    int tokens = 0;
    int decoders = 0;
    for (const ScheduledChunk& c : chunks) {
      tokens += c.num_tokens;
      if (c.sequence->id != 3) {
        EXPECT_EQ(c.num_tokens, 1);
        EXPECT_TRUE(c.samples);
        ++decoders;
      } else {
        long_prompt_sampled = c.samples;
      }
    }
    EXPECT_EQ(decoders, 2) << "a decoding stream was left out of a step";
    EXPECT_LE(tokens, 8);
    Complete(chunks);
    ++steps_for_long_prompt;
  }
  EXPECT_EQ(steps_for_long_prompt, 4);  // 20 prompt tokens at 6 per step
}

TEST_F(SchedulerTest, PrefillBudgetGoesToTheOldestFirst) {
  SlotAllocator slots(4);
  Scheduler scheduler({/*max_running=*/4, /*max_step_tokens=*/10}, slots);
  scheduler.Enqueue(Make(1, 8));
  scheduler.Enqueue(Make(2, 8));
  const auto chunks = scheduler.Schedule(absl::Now());
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].sequence->id, 1u);
  EXPECT_EQ(chunks[0].num_tokens, 8);
  EXPECT_TRUE(chunks[0].samples);
  EXPECT_EQ(chunks[1].num_tokens, 2);
  EXPECT_FALSE(chunks[1].samples);
}

TEST_F(SchedulerTest, RemoveAllFreesEverySlot) {
  SlotAllocator slots(2);
  Scheduler scheduler({2, 8}, slots);
  for (RequestId id = 1; id <= 3; ++id) scheduler.Enqueue(Make(id, 1));
  scheduler.Schedule(absl::Now());
  EXPECT_EQ(scheduler.RemoveAll().size(), 3u);
  EXPECT_EQ(slots.num_free(), 2);
  EXPECT_FALSE(scheduler.has_work());
}

}  // namespace
}  // namespace plume::inference
