// The tile kernel behind MatMul, one entry per target (kernels/matmul_tile.cc holds the Highway
// bodies, kernels/reference.cc the scalar twin).
#pragma once

#include <cstdint>

namespace sculpt::kernels {

inline constexpr int64_t kTile = 16;  // output columns per panel

// y[i, j] = chain over k of fma(x[i, k], panel[k, j], acc), acc starting at 0, for i < m and
// j < nt (<= kTile). panel is [k, kTile]; y has row stride ldy.
void TileScalar(const float* x, int64_t m, int64_t k, const float* panel, float* y, int64_t ldy,
                int64_t nt);
void TileSimd(const float* x, int64_t m, int64_t k, const float* panel, float* y, int64_t ldy,
              int64_t nt);

}  // namespace sculpt::kernels
