// Highway bodies of the packed tile kernel (kernels/packed.h), for AVX-512 and AVX2. Per k, the
// kTile weights are formed in registers (loaded, widened from f16/bf16, or scale * q [- min] from
// int8) and feed one MulAdd per accumulator: SIMD across output columns, one chain over k per
// output. MR x rows share each weight vector; MR changes no result.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/packed_tile.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/packed.h"

HWY_BEFORE_NAMESPACE();
namespace sculpt::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <PanelFormat F, bool kMin, int MR>
HWY_INLINE void Rows(const float* HWY_RESTRICT x, const PackedMatrix& w, int64_t t,
                     float* HWY_RESTRICT y, int64_t ldy, int64_t nt) {
  const hn::ScalableTag<float> df;
  using V = decltype(hn::Zero(df));
  const size_t N = hn::Lanes(df);
  const size_t vecs = kTile / N;
  constexpr size_t kMaxVecs = kTile;
  const int64_t K = w.cols;
  const int64_t block = F == PanelFormat::kI8 ? w.block : K;
  const int64_t n_blocks = K / block;
  V acc[MR][kMaxVecs];
  for (int r = 0; r < MR; ++r)
    for (size_t v = 0; v < vecs; ++v) acc[r][v] = hn::Zero(df);
  V scale[kMaxVecs], min[kMaxVecs];
  for (int64_t b = 0; b < n_blocks; ++b) {
    if constexpr (F == PanelFormat::kI8) {
      const float* s = w.scales.data() + (t * n_blocks * (kMin ? 2 : 1) + b) * kTile;
      for (size_t v = 0; v < vecs; ++v) {
        scale[v] = hn::LoadU(df, s + v * N);
        if constexpr (kMin) min[v] = hn::LoadU(df, s + n_blocks * kTile + v * N);
      }
    }
    for (int64_t k = b * block; k < (b + 1) * block; ++k) {
      const int64_t at = (t * K + k) * kTile;
      V wv[kMaxVecs];
      for (size_t v = 0; v < vecs; ++v) {
        if constexpr (F == PanelFormat::kF32) {
          wv[v] = hn::LoadU(df, reinterpret_cast<const float*>(w.values.data()) + at + v * N);
        } else if constexpr (F == PanelFormat::kF16) {
          const hn::Rebind<hwy::float16_t, decltype(df)> dh;
          wv[v] = hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(w.values.data()) + at + v * N));
        } else if constexpr (F == PanelFormat::kBF16) {
          const hn::Rebind<hwy::bfloat16_t, decltype(df)> db;
          wv[v] = hn::PromoteTo(df, hn::LoadU(db, reinterpret_cast<const hwy::bfloat16_t*>(w.values.data()) + at + v * N));
        } else {
          const hn::Rebind<int8_t, decltype(df)> d8;
          const hn::Rebind<int32_t, decltype(df)> d32;
          const V q = hn::ConvertTo(df, hn::PromoteTo(d32, hn::LoadU(d8, reinterpret_cast<const int8_t*>(w.values.data()) + at + v * N)));
          wv[v] = hn::Mul(scale[v], q);
          if constexpr (kMin) wv[v] = hn::Sub(wv[v], min[v]);
        }
      }
      for (int r = 0; r < MR; ++r) {
        const V xr = hn::Set(df, x[r * K + k]);
        for (size_t v = 0; v < vecs; ++v) acc[r][v] = hn::MulAdd(xr, wv[v], acc[r][v]);
      }
    }
  }
  HWY_ALIGN float out[kTile];
  for (int r = 0; r < MR; ++r) {
    for (size_t v = 0; v < vecs; ++v) hn::Store(acc[r][v], df, out + v * N);
    for (int64_t j = 0; j < nt; ++j) y[r * ldy + j] = out[j];
  }
}

template <PanelFormat F, bool kMin>
void AllRows(const float* x, int64_t m, const PackedMatrix& w, int64_t t, float* y, int64_t ldy,
             int64_t nt) {
  int64_t i = 0;
  for (; i + 8 <= m; i += 8) Rows<F, kMin, 8>(x + i * w.cols, w, t, y + i * ldy, ldy, nt);
  for (; i + 4 <= m; i += 4) Rows<F, kMin, 4>(x + i * w.cols, w, t, y + i * ldy, ldy, nt);
  for (; i < m; ++i) Rows<F, kMin, 1>(x + i * w.cols, w, t, y + i * ldy, ldy, nt);
}

void PackedTile(const float* x, int64_t m, const PackedMatrix& w, int64_t t, float* y,
                int64_t ldy, int64_t nt) {
  switch (w.format) {
    case PanelFormat::kF32: return AllRows<PanelFormat::kF32, false>(x, m, w, t, y, ldy, nt);
    case PanelFormat::kF16: return AllRows<PanelFormat::kF16, false>(x, m, w, t, y, ldy, nt);
    case PanelFormat::kBF16: return AllRows<PanelFormat::kBF16, false>(x, m, w, t, y, ldy, nt);
    case PanelFormat::kI8:
      if (w.has_min) return AllRows<PanelFormat::kI8, true>(x, m, w, t, y, ldy, nt);
      return AllRows<PanelFormat::kI8, false>(x, m, w, t, y, ldy, nt);
  }
}

}  // namespace sculpt::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sculpt::kernels {
HWY_EXPORT(PackedTile);
void PackedTileSimd(const float* x, int64_t m, const PackedMatrix& w, int64_t t, float* y,
                    int64_t ldy, int64_t nt) {
  HWY_DYNAMIC_DISPATCH(PackedTile)(x, m, w, t, y, ldy, nt);
}
}  // namespace sculpt::kernels
#endif
