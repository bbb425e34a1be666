#include "kernels/simd.h"

#include <unistd.h>

#include <algorithm>

#include "hwy/targets.h"

namespace sculpt::kernels {

// What the CPU supports, read once before any target is forced.
int64_t RealTargets() {
  static const int64_t targets = [] {
    hwy::SetSupportedTargetsForTest(0);
    return hwy::SupportedTargets();
  }();
  return targets;
}

namespace {
SimdTarget g_target = SimdTarget::kScalar;
bool g_initialized = false;

int64_t HwyBit(SimdTarget t) {
  switch (t) {
    case SimdTarget::kAvx512: return HWY_AVX3;
    case SimdTarget::kAvx2: return HWY_AVX2;
    case SimdTarget::kScalar: return 0;
  }
  return 0;
}

SimdTarget Best() {
  for (SimdTarget t : {SimdTarget::kAvx512, SimdTarget::kAvx2})
    if (SimdTargetSupported(t)) return t;
  return SimdTarget::kScalar;
}
}  // namespace

std::string_view SimdTargetName(SimdTarget t) {
  switch (t) {
    case SimdTarget::kScalar: return "scalar";
    case SimdTarget::kAvx2: return "avx2";
    case SimdTarget::kAvx512: return "avx512";
  }
  return "scalar";
}

bool SimdTargetSupported(SimdTarget t) {
  return t == SimdTarget::kScalar || (RealTargets() & HwyBit(t)) != 0;
}

Status SetSimdTarget(std::string_view name) {
  SimdTarget t;
  if (name == "best") {
    hwy::SetSupportedTargetsForTest(0);  // back to what the CPU supports
    t = Best();
  } else if (name == "avx512") {
    t = SimdTarget::kAvx512;
  } else if (name == "avx2") {
    t = SimdTarget::kAvx2;
  } else if (name == "scalar") {
    t = SimdTarget::kScalar;
  } else {
    return InvalidArgument("unknown --simd target '{}' (best, avx512, avx2, scalar)", Printable(name));
  }
  if (name != "best") {
    hwy::SetSupportedTargetsForTest(0);
    if (!SimdTargetSupported(t)) {
      return InvalidArgument("--simd {}: this CPU does not support it", name);
    }
    if (t != SimdTarget::kScalar) hwy::SetSupportedTargetsForTest(HwyBit(t) | HWY_EMU128);
  }
  g_target = t;
  g_initialized = true;
  return Status::Ok();
}

SimdTarget CurrentSimdTarget() {
  if (!g_initialized) {
    g_target = Best();
    g_initialized = true;
  }
  return g_target;
}

namespace {
int64_t g_l2_override = 0;
}  // namespace

int64_t L2CacheBytes() {
  if (g_l2_override > 0) return g_l2_override;
  static const int64_t bytes = [] {
    const long reported = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return std::clamp<int64_t>(reported > 0 ? reported : int64_t{1} << 20, int64_t{256} << 10,
                               int64_t{4} << 20);
  }();
  return bytes;
}

void SetL2CacheBytesForTest(int64_t bytes) { g_l2_override = bytes; }

}  // namespace sculpt::kernels
