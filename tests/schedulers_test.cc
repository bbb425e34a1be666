// Schedulers against hand-computed counts.
#include "schedulers/schedulers.h"

#include <numeric>

#include <gtest/gtest.h>

namespace sculpt {
namespace {

TEST(Schedulers, LinearCountsAreFrontLoadedAndSumToTheMaskedTotal) {
  EXPECT_EQ(LinearTransferCounts(10, 4), (std::vector<int64_t>{3, 3, 2, 2}));
  EXPECT_EQ(LinearTransferCounts(8, 8), std::vector<int64_t>(8, 1));
  EXPECT_EQ(LinearTransferCounts(3, 5), (std::vector<int64_t>{1, 1, 1, 0, 0}));
  for (int64_t m = 0; m < 40; ++m) {
    for (int64_t s = 1; s < 20; ++s) {
      const auto c = LinearTransferCounts(m, s);
      EXPECT_EQ(std::accumulate(c.begin(), c.end(), int64_t{0}), m);
      EXPECT_TRUE(std::is_sorted(c.rbegin(), c.rend()));
    }
  }
}

TEST(Schedulers, TimestepCountsFollowDream) {
  // S = N: step 0 commits floor(32 * 0.999 / 32) = 0; the last step commits what is left.
  EXPECT_EQ(TimestepTransferCount(32, 0, 32, 1e-3), 0);
  EXPECT_EQ(TimestepTransferCount(5, 31, 32, 1e-3), 5);
  // S = 8, 32 masks: t = 1, s = 1 - 0.999/8 -> floor(32 * 0.124875) = 3.
  EXPECT_EQ(TimestepTransferCount(32, 0, 8, 1e-3), 3);
  // Every schedule run to its end commits everything exactly once.
  for (int64_t n : {7, 16, 48}) {
    for (int64_t steps : {1, 3, 8, 16}) {
      int64_t remaining = n;
      for (int64_t i = 0; i < steps; ++i) remaining -= TimestepTransferCount(remaining, i, steps, 1e-3);
      EXPECT_EQ(remaining, 0);
    }
  }
}

TEST(Schedulers, BlockPlansRejectUnevenSplits) {
  EXPECT_EQ(PlanBlocks(32, 8, 16)->n_blocks, 4);
  EXPECT_EQ(PlanBlocks(32, 8, 16)->steps_per_block, 4);
  EXPECT_EQ(PlanBlocks(32, 0, 5)->n_blocks, 1);
  EXPECT_NE(PlanBlocks(30, 8, 16).status().message().find("does not divide"), std::string::npos);
  EXPECT_NE(PlanBlocks(32, 8, 6).status().message().find("cannot be split"), std::string::npos);
  EXPECT_FALSE(PlanBlocks(32, 8, 0).ok());
}

TEST(Schedulers, NoiseSchedulesGoFromCleanToMasked) {
  for (const char* name : {"loglinear", "linear", "cosine", "cosine2", "geometric", "square", "sqrt"}) {
    SCOPED_TRACE(name);
    const NoiseSchedule s = *NoiseScheduleByName(name);
    EXPECT_NEAR(Alpha(s, 0.0), 1.0, 1e-3);
    EXPECT_LT(Alpha(s, 1.0), 1.01e-3);
    for (double t = 0.0; t < 1.0; t += 0.05) EXPECT_GE(Alpha(s, t), Alpha(s, t + 0.05) - 1e-12);
  }
  // Linear alpha gives Dream's origin rule: reveal with probability 1 - s/t.
  EXPECT_NEAR(RevealProbability(NoiseSchedule::kLinear, 0.8, 0.6), 1.0 - 0.6 / 0.8, 1e-12);
  EXPECT_FALSE(NoiseScheduleByName("nope").ok());
}

}  // namespace
}  // namespace sculpt
