// Row-wise operations: bias, residual, RMSNorm, SwiGLU, RoPE, and the thread setting.
#include <cmath>

#include "kernels/exp.h"
#include "kernels/kernels.h"
#include "kernels/parallel.h"
#include "kernels/simd.h"

namespace sculpt::kernels {

namespace {
int g_threads = 1;
}

void SwiGluSimd(const float* gate, const float* up, int64_t n, float* out);  // kernels/ops_simd.cc

void SetThreads(int n) { g_threads = n < 1 ? 1 : n; }
int Threads() { return g_threads; }

void AddBias(float* y, int64_t m, int64_t n, const float* b) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) y[i * n + j] += b[j];
}

void AddInPlace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void RmsNorm(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(xr[i]) * xr[i];
    const float scale = static_cast<float>(1.0 / std::sqrt(sum / n + eps));
    for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] * scale) * w[i];
  }
}

void SwiGlu(const float* gate, const float* up, int64_t n, float* out) {
  if (CurrentSimdTarget() != SimdTarget::kScalar) {
    SwiGluSimd(gate, up, n, out);
    return;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = SiluMul(gate[i], up[i]);
}

void RopeTable(const int32_t* pos, int64_t n, int64_t rope_dim, double base, float* cos_sin) {
  const int64_t half = rope_dim / 2;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t j = 0; j < half; ++j) {
      const double theta = pos[t] * std::pow(base, -2.0 * j / rope_dim);
      cos_sin[(t * half + j) * 2 + 0] = static_cast<float>(std::cos(theta));
      cos_sin[(t * half + j) * 2 + 1] = static_cast<float>(std::sin(theta));
    }
  }
}

void ApplyRope(float* x, int64_t n, int64_t row_stride, int64_t n_heads, int64_t head_dim,
               int64_t rope_dim, RopeStyle style, const float* cos_sin) {
  const int64_t half = rope_dim / 2;
  for (int64_t t = 0; t < n; ++t) {
    const float* cs = cos_sin + t * half * 2;
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + t * row_stride + h * head_dim;
      for (int64_t j = 0; j < half; ++j) {
        const int64_t ia = style == RopeStyle::kNorm ? 2 * j : j;
        const int64_t ib = style == RopeStyle::kNorm ? 2 * j + 1 : j + half;
        const float a = v[ia], b = v[ib], c = cs[2 * j], s = cs[2 * j + 1];
        v[ia] = a * c - b * s;
        v[ib] = a * s + b * c;
      }
    }
  }
}

}  // namespace sculpt::kernels
