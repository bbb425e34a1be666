// SIMD target selection, and the cache size the kernels block for. One binary serves every x86-64:
// the best target the CPU supports is used unless the user forces one (--simd). All targets give
// identical bits: the scalar twin uses std::fma exactly where the SIMD kernels use FMA. Targets
// without FMA (SSE4) are not offered.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/status.h"

namespace sculpt::kernels {

enum class SimdTarget { kScalar, kAvx2, kAvx512 };

std::string_view SimdTargetName(SimdTarget t);
bool SimdTargetSupported(SimdTarget t);
// "best", "avx512", "avx2" or "scalar"; an unknown name or a target this CPU lacks is an error.
Status SetSimdTarget(std::string_view name);
SimdTarget CurrentSimdTarget();

// The per-core L2 cache the kernels size their weight blocks by (blocks meant to stay in L2 are
// half of it): the CPU's figure (sysconf, from CPUID), 1 MiB where it reports none, clamped to
// [256 KiB, 4 MiB]. Blocking never changes a result, only where the weights come from.
int64_t L2CacheBytes();
// Tests: use `bytes` instead (0: the CPU's figure again).
void SetL2CacheBytesForTest(int64_t bytes);

}  // namespace sculpt::kernels
