// exp(x) for x <= 0 as one fixed sequence of IEEE operations (Cephes' single-precision algorithm:
// range reduction by ln 2 in two parts, degree-5 polynomial, exponent by integer arithmetic), so
// the SIMD kernels (Highway) and their scalar twins give the same bits on every target; libm's
// exp is not used where a SIMD twin exists. Relative error about 2 ulp; x < kExpMin gives 0.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace sculpt::kernels {

inline constexpr float kExpMin = -87.0f;  // below: 0 (2^n stays a normal number)
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2Hi = 0.693359375f;
inline constexpr float kLn2Lo = -2.12194440e-4f;
inline constexpr float kExpP[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                   4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

// The scalar twin: the operations of the SIMD version, in the same order.
inline float ExpNonPositive(float x) {
  if (!(x >= kExpMin)) return 0.0f;  // also -inf and NaN from masked scores
  const float n = std::nearbyint(x * kLog2e);
  float r = std::fma(n, -kLn2Hi, x);
  r = std::fma(n, -kLn2Lo, r);
  float p = kExpP[0];
  for (int i = 1; i < 6; ++i) p = std::fma(p, r, kExpP[i]);
  const float r2 = r * r;
  const float y = std::fma(p, r2, r) + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return y * scale;
}

// SiLU(g) * u with the exponential of -|g| (never overflows): g / (1 + e) for g >= 0, g * e / (1 + e)
// otherwise. The scalar twin of SwiGlu's SIMD body (kernels/ops_simd.cc).
inline float SiluMul(float g, float u) {
  const float e = ExpNonPositive(-std::fabs(g));
  const float den = 1.0f + e;
  const float s = g >= 0.0f ? g / den : (g * e) / den;
  return s * u;
}

}  // namespace sculpt::kernels
