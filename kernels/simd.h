// SIMD target selection. One binary serves every x86-64: the best target the CPU supports is
// used unless the user forces one (--simd). All targets give identical bits: the scalar twin uses
// std::fma exactly where the SIMD kernels use FMA. Targets without FMA (SSE4) are not offered.
#pragma once

#include <string_view>

#include "base/status.h"

namespace sculpt::kernels {

enum class SimdTarget { kScalar, kAvx2, kAvx512 };

std::string_view SimdTargetName(SimdTarget t);
bool SimdTargetSupported(SimdTarget t);
// "best", "avx512", "avx2" or "scalar"; an unknown name or a target this CPU lacks is an error.
Status SetSimdTarget(std::string_view name);
SimdTarget CurrentSimdTarget();

}  // namespace sculpt::kernels
