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

// The height of the next row group when `left` rows remain: as many groups as top-row groups
// need, as evenly high as they go (64 rows at top 14: 13, 13, 13, 13, 12). Every group is a pass
// over the weights, so tallest-first, which leaves short groups (64 = 14 x 4 + 8), costs passes.
inline int EvenGroupRows(int64_t left, int top) {
  const int64_t groups = (left + top - 1) / top;
  return static_cast<int>((left + groups - 1) / groups);
}

// fn(std::integral_constant<int, MR>()) for MR == mr, 1 <= mr <= kTop: the packed kernels have a
// micro-kernel for every row-group height and pick one at run time.
template <int kTop, int MR = 1, class Fn>
inline void WithRows(int mr, const Fn& fn) {
  if constexpr (MR < kTop) {
    if (mr != MR) return WithRows<kTop, MR + 1>(mr, fn);
  }
  fn(std::integral_constant<int, MR>());
}

// fn(i, std::integral_constant<int, mr>()) for each row group of m rows split by EvenGroupRows
// at top kTop, i its first row, in order.
template <int kTop, class Fn>
inline void ForEachRowGroup(int64_t m, const Fn& fn) {
  for (int64_t i = 0, mr = 0; i < m; i += mr) {
    mr = EvenGroupRows(m - i, kTop);
    WithRows<kTop>(static_cast<int>(mr), [&](auto rows) { fn(i, rows); });
  }
}

}  // namespace sculpt::kernels
