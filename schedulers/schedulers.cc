#include "schedulers/schedulers.h"

#include <cmath>
#include <numbers>

namespace sculpt {

std::vector<int64_t> LinearTransferCounts(int64_t masked, int64_t steps) {
  std::vector<int64_t> counts(static_cast<size_t>(steps), steps > 0 ? masked / steps : 0);
  for (int64_t i = 0; i < (steps > 0 ? masked % steps : 0); ++i) ++counts[i];
  return counts;
}

int64_t TimestepTransferCount(int64_t remaining, int64_t step, int64_t steps, double eps) {
  if (step >= steps - 1) return remaining;
  const double t = 1.0 - static_cast<double>(step) * (1.0 - eps) / steps;
  const double s = 1.0 - static_cast<double>(step + 1) * (1.0 - eps) / steps;
  const auto k = static_cast<int64_t>(std::floor(static_cast<double>(remaining) * (1.0 - s / t)));
  return k < 0 ? 0 : (k > remaining ? remaining : k);
}

StatusOr<NoiseSchedule> NoiseScheduleByName(std::string_view name) {
  if (name == "loglinear") return NoiseSchedule::kLoglinear;
  if (name == "linear") return NoiseSchedule::kLinear;
  if (name == "cosine") return NoiseSchedule::kCosine;
  if (name == "cosine2" || name == "cosine-squared") return NoiseSchedule::kCosineSquared;
  if (name == "geometric") return NoiseSchedule::kGeometric;
  if (name == "square") return NoiseSchedule::kSquare;
  if (name == "sqrt" || name == "square-root") return NoiseSchedule::kSquareRoot;
  return InvalidArgument("unknown noise schedule '{}' (known: loglinear, linear, cosine, cosine2, "
                         "geometric, square, sqrt)", Printable(name));
}

double Alpha(NoiseSchedule schedule, double t, double eps) {
  constexpr double kHalfPi = std::numbers::pi / 2;
  switch (schedule) {
    case NoiseSchedule::kLoglinear: return 1.0 - (1.0 - eps) * t;
    case NoiseSchedule::kLinear: return 1.0 - t;
    case NoiseSchedule::kCosine: return std::cos(kHalfPi * t);
    case NoiseSchedule::kCosineSquared: return std::pow(std::cos(kHalfPi * t), 2);
    case NoiseSchedule::kGeometric: {  // sigma(t) = sigma_min^(1-t) sigma_max^t, alpha = e^-sigma
      constexpr double kSigmaMin = 1e-4, kSigmaMax = 20.0;
      return std::exp(-std::pow(kSigmaMin, 1.0 - t) * std::pow(kSigmaMax, t));
    }
    case NoiseSchedule::kSquare: return 1.0 - t * t;
    case NoiseSchedule::kSquareRoot: return 1.0 - std::sqrt(t);
  }
  return 1.0 - t;
}

double RevealProbability(NoiseSchedule schedule, double t, double s, double eps) {
  const double at = Alpha(schedule, t, eps), as = Alpha(schedule, s, eps);
  if (at >= 1.0) return 1.0;
  const double p = (as - at) / (1.0 - at);
  return p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p);
}

StatusOr<BlockPlan> PlanBlocks(int64_t n, int64_t block_length, int64_t steps) {
  if (n < 1) return InvalidArgument("the generation length must be at least 1 (got {})", n);
  if (steps < 1) return InvalidArgument("steps must be at least 1 (got {})", steps);
  if (block_length < 1) block_length = n;
  if (n % block_length != 0) {
    return InvalidArgument("block length {} does not divide the generation length {}; choose a "
                           "divisor of {}", block_length, n, n);
  }
  BlockPlan plan;
  plan.n_blocks = n / block_length;
  if (steps % plan.n_blocks != 0) {
    return InvalidArgument("{} steps cannot be split evenly over {} blocks of {}; use a multiple "
                           "of {}", steps, plan.n_blocks, block_length, plan.n_blocks);
  }
  plan.steps_per_block = steps / plan.n_blocks;
  return plan;
}

}  // namespace sculpt
