// The tile width of the panels, and the scalar tile kernel of the reference MatMul
// (kernels/reference.cc).
#pragma once

#include <cstdint>

namespace sculpt::kernels {

inline constexpr int64_t kTile = 16;  // output columns per panel

// y[i, j] = chain over k of fma(x[i, k], panel[k, j], acc), acc starting at 0, for i < m and
// j < nt (<= kTile). panel is [k, kTile]; y has row stride ldy.
void TileScalar(const float* x, int64_t m, int64_t k, const float* panel, float* y, int64_t ldy,
                int64_t nt);

}  // namespace sculpt::kernels
