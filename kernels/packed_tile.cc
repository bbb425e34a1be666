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

// The nibbles of rows [row0, row0 + lanes) of one k as int32 lanes. Byte j holds row j (low) and
// row j + kTile/2 (high).
template <class D32>
HWY_INLINE hn::Vec<D32> Nibbles(D32 d32, const uint8_t* bytes, size_t row0) {
  const hn::Rebind<uint8_t, D32> d8;
  constexpr size_t kHalf = kTile / 2;
#if HWY_TARGET != HWY_SCALAR
  if constexpr (hn::MaxLanes(d32) >= kTile) {  // 16 lanes: low nibbles, then high nibbles
    const hn::Half<decltype(d8)> dh;
    const auto packed = hn::LoadU(dh, bytes);
    const auto lo = hn::And(packed, hn::Set(dh, 0x0F));
    const auto hi = hn::ShiftRight<4>(packed);
    return hn::PromoteTo(d32, hn::Combine(d8, hi, lo));
  } else if constexpr (hn::MaxLanes(d32) == kHalf) {  // 8 lanes: one half of the rows
    const auto packed = hn::LoadU(d8, bytes);
    const auto q = row0 < kHalf ? hn::And(packed, hn::Set(d8, 0x0F)) : hn::ShiftRight<4>(packed);
    return hn::PromoteTo(d32, q);
  } else
#endif
  {  // narrower vectors (targets Sculpt does not dispatch to): byte by byte
    HWY_ALIGN uint8_t q[kTile];
    for (size_t i = 0; i < hn::Lanes(d32); ++i) {
      const size_t row = row0 + i;
      q[i] = row < kHalf ? (bytes[row % kHalf] & 0xF) : (bytes[row % kHalf] >> 4);
    }
    return hn::PromoteTo(d32, hn::LoadU(d8, q));
  }
}

// MR rows of x times T consecutive tiles (t .. t+T-1); y points at tile t's first column. Several
// tiles give a small batch independent chains to overlap (each output is still one chain).
template <PanelFormat F, bool kMin, int MR, int T = 1>
HWY_INLINE void Rows(const float* HWY_RESTRICT x, const PackedMatrix& w, int64_t t,
                     float* HWY_RESTRICT y, int64_t ldy, int64_t nt) {
  const hn::ScalableTag<float> df;
  using V = decltype(hn::Zero(df));
  const size_t N = hn::Lanes(df);
  const size_t vecs = kTile / N;
  constexpr size_t kMaxVecs = kTile;
  const int64_t K = w.cols;
  constexpr bool kQuant = F == PanelFormat::kI8 || F == PanelFormat::kI4;
  const int64_t block = kQuant ? w.block : K;
  const int64_t n_blocks = K / block;
  V acc[T][MR][kMaxVecs];
  for (int tt = 0; tt < T; ++tt)
    for (int r = 0; r < MR; ++r)
      for (size_t v = 0; v < vecs; ++v) acc[tt][r][v] = hn::Zero(df);
  V scale[T][kMaxVecs], min[T][kMaxVecs];
  for (int64_t b = 0; b < n_blocks; ++b) {
    if constexpr (kQuant) {
      for (int tt = 0; tt < T; ++tt) {
        const float* s = w.scales.data() + ((t + tt) * n_blocks * (kMin ? 2 : 1) + b) * kTile;
        for (size_t v = 0; v < vecs; ++v) {
          scale[tt][v] = hn::LoadU(df, s + v * N);
          if constexpr (kMin) min[tt][v] = hn::LoadU(df, s + n_blocks * kTile + v * N);
        }
      }
    }
    for (int64_t k = b * block; k < (b + 1) * block; ++k) {
      V xr[MR];
      for (int r = 0; r < MR; ++r) xr[r] = hn::Set(df, x[r * K + k]);
      for (int tt = 0; tt < T; ++tt) {
      const int64_t at = ((t + tt) * K + k) * kTile;
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
        } else if constexpr (F == PanelFormat::kI8) {
          const hn::Rebind<int8_t, decltype(df)> d8;
          const hn::Rebind<int32_t, decltype(df)> d32;
          const V q = hn::ConvertTo(df, hn::PromoteTo(d32, hn::LoadU(d8, reinterpret_cast<const int8_t*>(w.values.data()) + at + v * N)));
          wv[v] = hn::Mul(scale[tt][v], q);
          if constexpr (kMin) wv[v] = hn::Sub(wv[v], min[tt][v]);
        } else {  // kI4: nibbles -> int32 (minus the offset) -> float, then as kI8
          const hn::Rebind<int32_t, decltype(df)> d32;
          const uint8_t* bytes = w.values.data() + ((t + tt) * K + k) * (kTile / 2);
          auto qi = Nibbles(d32, bytes, v * N);
          if (w.offset != 0) qi = hn::Sub(qi, hn::Set(d32, w.offset));
          wv[v] = hn::Mul(scale[tt][v], hn::ConvertTo(df, qi));
          if constexpr (kMin) wv[v] = hn::Sub(wv[v], min[tt][v]);
        }
      }
      for (int r = 0; r < MR; ++r) {
        for (size_t v = 0; v < vecs; ++v) acc[tt][r][v] = hn::MulAdd(xr[r], wv[v], acc[tt][r][v]);
      }
      }
    }
  }
  HWY_ALIGN float out[kTile];
  for (int tt = 0; tt < T; ++tt) {
    const int64_t cols = tt == T - 1 ? nt : kTile;  // only the last tile can be partial
    for (int r = 0; r < MR; ++r) {
      for (size_t v = 0; v < vecs; ++v) hn::Store(acc[tt][r][v], df, out + v * N);
      for (int64_t j = 0; j < cols; ++j) y[r * ldy + tt * kTile + j] = out[j];
    }
  }
}

// Tiles [t0, t1); y is the whole output. Groups of 8 or 4 rows take one tile at a time (enough
// independent chains); the remaining rows take 4 tiles at a time.
template <PanelFormat F, bool kMin>
void AllRows(const float* x, int64_t m, const PackedMatrix& w, int64_t t0, int64_t t1, float* y,
             int64_t ldy) {
  auto nt_of = [&](int64_t t) { return std::min<int64_t>(kTile, w.rows - t * kTile); };
  for (int64_t t = t0; t < t1; ++t) {
    int64_t i = 0;
    for (; i + 8 <= m; i += 8) Rows<F, kMin, 8>(x + i * w.cols, w, t, y + i * ldy + t * kTile, ldy, nt_of(t));
    for (; i + 4 <= m; i += 4) Rows<F, kMin, 4>(x + i * w.cols, w, t, y + i * ldy + t * kTile, ldy, nt_of(t));
  }
  const int64_t rest = m - m / 4 * 4;
  for (int64_t i = m - rest; i < m; ++i) {
    int64_t t = t0;
    for (; t + 4 <= t1; t += 4) Rows<F, kMin, 1, 4>(x + i * w.cols, w, t, y + i * ldy + t * kTile, ldy, nt_of(t + 3));
    for (; t < t1; ++t) Rows<F, kMin, 1>(x + i * w.cols, w, t, y + i * ldy + t * kTile, ldy, nt_of(t));
  }
}

void PackedTiles(const float* x, int64_t m, const PackedMatrix& w, int64_t t, int64_t n_tiles,
                 float* y, int64_t ldy) {
  const int64_t t1 = t + n_tiles;
  switch (w.format) {
    case PanelFormat::kF32: return AllRows<PanelFormat::kF32, false>(x, m, w, t, t1, y, ldy);
    case PanelFormat::kF16: return AllRows<PanelFormat::kF16, false>(x, m, w, t, t1, y, ldy);
    case PanelFormat::kBF16: return AllRows<PanelFormat::kBF16, false>(x, m, w, t, t1, y, ldy);
    case PanelFormat::kI8:
      if (w.has_min) return AllRows<PanelFormat::kI8, true>(x, m, w, t, t1, y, ldy);
      return AllRows<PanelFormat::kI8, false>(x, m, w, t, t1, y, ldy);
    case PanelFormat::kI4:
      if (w.has_min) return AllRows<PanelFormat::kI4, true>(x, m, w, t, t1, y, ldy);
      return AllRows<PanelFormat::kI4, false>(x, m, w, t, t1, y, ldy);
  }
}

}  // namespace sculpt::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sculpt::kernels {
HWY_EXPORT(PackedTiles);
void PackedTilesSimd(const float* x, int64_t m, const PackedMatrix& w, int64_t t, int64_t n_tiles,
                     float* y, int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(PackedTiles)(x, m, w, t, n_tiles, y, ldy);
}
}  // namespace sculpt::kernels
#endif
