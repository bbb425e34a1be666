// The tile width of the panels, the scalar tile kernel of the reference MatMul
// (kernels/reference.cc), and the row-group dispatch the packed kernels share.
#pragma once

#include <cstdint>
#include <type_traits>

namespace sculpt::kernels {

inline constexpr int64_t kTile = 16;  // output columns per panel

// y[i, j] = chain over k of fma(x[i, k], panel[k, j], acc), acc starting at 0, for i < m and
// j < nt (<= kTile). panel is [k, kTile]; y has row stride ldy.
void TileScalar(const float* x, int64_t m, int64_t k, const float* panel, float* y, int64_t ldy,
                int64_t nt);

// fn(std::integral_constant<int, MR>()) for MR == mr, 1 <= mr <= kTop: the packed kernels have a
// micro-kernel for every row-group height and pick one at run time.
template <int kTop, int MR = 1, class Fn>
inline void WithRows(int mr, const Fn& fn) {
  if constexpr (MR < kTop) {
    if (mr != MR) return WithRows<kTop, MR + 1>(mr, fn);
  }
  fn(std::integral_constant<int, MR>());
}

}  // namespace sculpt::kernels
