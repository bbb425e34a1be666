// Highway bodies of the tile kernel, compiled for AVX-512 and AVX2 (both have FMA) and chosen at
// run time. SIMD lanes run across the kTile output columns; each column is one MulAdd chain over k.
// Four x rows share each panel load (register blocking); that changes no result.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_tile.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/matmul_tile.h"

HWY_BEFORE_NAMESPACE();
namespace sculpt::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <int MR>
HWY_INLINE void Rows(const float* HWY_RESTRICT x, int64_t k, const float* HWY_RESTRICT panel,
                     float* HWY_RESTRICT y, int64_t ldy, int64_t nt) {
  const hn::ScalableTag<float> d;
  constexpr size_t kMaxVecs = kTile;  // enough for any lane count, down to 1
  const size_t N = hn::Lanes(d);
  const size_t vecs = kTile / N;
  using V = decltype(hn::Zero(d));
  V acc[MR][kMaxVecs];
  for (int r = 0; r < MR; ++r)
    for (size_t v = 0; v < vecs; ++v) acc[r][v] = hn::Zero(d);
  for (int64_t kk = 0; kk < k; ++kk) {
    const float* p = panel + kk * kTile;
    for (size_t v = 0; v < vecs; ++v) {
      const V w = hn::LoadU(d, p + v * N);
      for (int r = 0; r < MR; ++r) acc[r][v] = hn::MulAdd(hn::Set(d, x[r * k + kk]), w, acc[r][v]);
    }
  }
  HWY_ALIGN float out[kTile];
  for (int r = 0; r < MR; ++r) {
    for (size_t v = 0; v < vecs; ++v) hn::Store(acc[r][v], d, out + v * N);
    for (int64_t j = 0; j < nt; ++j) y[r * ldy + j] = out[j];
  }
}

void Tile(const float* x, int64_t m, int64_t k, const float* panel, float* y, int64_t ldy,
          int64_t nt) {
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) Rows<4>(x + i * k, k, panel, y + i * ldy, ldy, nt);
  for (; i < m; ++i) Rows<1>(x + i * k, k, panel, y + i * ldy, ldy, nt);
}

}  // namespace sculpt::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sculpt::kernels {
HWY_EXPORT(Tile);
void TileSimd(const float* x, int64_t m, int64_t k, const float* panel, float* y, int64_t ldy,
              int64_t nt) {
  HWY_DYNAMIC_DISPATCH(Tile)(x, m, k, panel, y, ldy, nt);
}
}  // namespace sculpt::kernels
#endif
