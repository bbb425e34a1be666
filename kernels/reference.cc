// Scalar twins of the SIMD kernels (STYLE.md rule 10): the same operations in the same order,
// std::fma where the SIMD code uses FMA, so every target gives the same bits.
#include <cmath>

#include "kernels/matmul_tile.h"

namespace sculpt::kernels {

void TileScalar(const float* x, int64_t m, int64_t k, const float* panel, float* y, int64_t ldy,
                int64_t nt) {
  for (int64_t i = 0; i < m; ++i) {
    float acc[kTile] = {};
    for (int64_t kk = 0; kk < k; ++kk) {
      const float a = x[i * k + kk];
      for (int64_t j = 0; j < kTile; ++j) acc[j] = std::fma(a, panel[kk * kTile + j], acc[j]);
    }
    for (int64_t j = 0; j < nt; ++j) y[i * ldy + j] = acc[j];
  }
}

}  // namespace sculpt::kernels
