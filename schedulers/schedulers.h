// Schedulers: how many masked positions to commit at each step, as pure functions of (step,
// steps, masked count, t). No model, no logits.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace sculpt {

// LLaDA generate.py get_num_transfer_tokens: `masked` positions over `steps` steps,
// base = masked / steps each, the first masked % steps steps one more. Sums to `masked`.
std::vector<int64_t> LinearTransferCounts(int64_t masked, int64_t steps);

// Dream diffusion_generate (timestep schedule): t = 1 - i(1-eps)/S, s = 1 - (i+1)(1-eps)/S;
// commit floor(remaining * (1 - s/t)) at step i < S-1 and everything that remains at the last.
// Computed in double; for the reference cases this equals torch's float32 linspace (see README of
// the reference data: m(1 - s/t) is never within 1e-3 of an integer there).
int64_t TimestepTransferCount(int64_t remaining, int64_t step, int64_t steps, double eps);

// MDLM-style noise schedules: alpha(t) = probability that a token is still clean at time t in
// [0, 1]; alpha(0) = 1, alpha(1) = 0 (loglinear keeps alpha(1) = eps).
enum class NoiseSchedule { kLoglinear, kLinear, kCosine, kCosineSquared, kGeometric, kSquare, kSquareRoot };
StatusOr<NoiseSchedule> NoiseScheduleByName(std::string_view name);
double Alpha(NoiseSchedule schedule, double t, double eps = 1e-3);
// Ancestral ("origin") sampling from t down to s < t: a masked token is revealed with probability
// (alpha(s) - alpha(t)) / (1 - alpha(t)).
double RevealProbability(NoiseSchedule schedule, double t, double s, double eps = 1e-3);

// Semi-autoregressive blocks: the generation area [0, n) split into blocks of `block_length`.
struct BlockPlan {
  int64_t n_blocks = 1;
  int64_t steps_per_block = 1;
};
// Errors name the problem: block length that does not divide n, steps not divisible by blocks.
StatusOr<BlockPlan> PlanBlocks(int64_t n, int64_t block_length, int64_t steps);

}  // namespace sculpt
