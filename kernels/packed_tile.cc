// Highway bodies of the packed tile kernel (kernels/packed.h), for AVX-512 and AVX2. Per k, the
// kTile weights of a tile are formed in registers (loaded, widened from f16/bf16, or scale * q
// [- min] from int8/int4) and feed one MulAdd per accumulator: SIMD across output columns, one
// chain over k per output. A register tile covers MR rows x T tiles; K is walked in blocks of
// kKc with the partial sums parked in y between blocks (storing and reloading a float is exact,
// so every output is still one unbroken chain). MR, T and the blocking change no result.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/packed_tile.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include <vector>

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

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
// Lanes and vectors per tile for this target (fixed-width targets only).
constexpr int kLanes = static_cast<int>(HWY_LANES(float));
constexpr size_t kVecs = kTile / kLanes > 0 ? kTile / kLanes : 1;
constexpr bool kQuantFmt(PanelFormat f) { return f == PanelFormat::kI8 || f == PanelFormat::kI4; }

// The v-th vector of tile t's weights at column k, in float.
template <PanelFormat F, bool kMin>
HWY_INLINE VF Weights(DF df, const PackedMatrix& w, int64_t t, int64_t k, size_t v, VF scale, VF min) {
  const size_t N = hn::Lanes(df);
  const int64_t at = (t * w.cols + k) * kTile;
  if constexpr (F == PanelFormat::kF32) {
    return hn::LoadU(df, reinterpret_cast<const float*>(w.values.data()) + at + v * N);
  } else if constexpr (F == PanelFormat::kF16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(w.values.data()) + at + v * N));
  } else if constexpr (F == PanelFormat::kBF16) {
    const hn::Rebind<hwy::bfloat16_t, DF> db;
    return hn::PromoteTo(df, hn::LoadU(db, reinterpret_cast<const hwy::bfloat16_t*>(w.values.data()) + at + v * N));
  } else {
    const hn::Rebind<int32_t, DF> d32;
    hn::Vec<decltype(d32)> qi;
    if constexpr (F == PanelFormat::kI8) {
      const hn::Rebind<int8_t, DF> d8;
      qi = hn::PromoteTo(d32, hn::LoadU(d8, reinterpret_cast<const int8_t*>(w.values.data()) + at + v * N));
    } else {  // kI4: nibbles -> int32 minus the offset
      qi = Nibbles(d32, w.values.data() + (t * w.cols + k) * (kTile / 2), v * N);
      if (w.offset != 0) qi = hn::Sub(qi, hn::Set(d32, w.offset));
    }
    VF wv = hn::Mul(scale, hn::ConvertTo(df, qi));
    if constexpr (kMin) wv = hn::Sub(wv, min);
    return wv;
  }
}

// y[MR rows, T tiles] over k in [k0, k1): starts from 0 when k0 == 0, else continues the chains
// from the partial sums in y. xp holds the MR rows of x interleaved, xp[(k - k0) * MR + r], so
// every broadcast is a constant offset from one pointer. Tile t + tt has nt_last valid columns
// when it is the last one (only the last can be short).
template <PanelFormat F, bool kMin, int MR, int T>
HWY_INLINE void Micro(const float* HWY_RESTRICT xp, const PackedMatrix& w, int64_t t, int64_t k0,
                      int64_t k1, float* HWY_RESTRICT y, int64_t ldy, int64_t nt_last) {
  const DF df;
  const size_t N = hn::Lanes(df);
  constexpr size_t vecs = kVecs;
  const int64_t K = w.cols;
  constexpr bool kQuant = kQuantFmt(F);
  const int64_t block = kQuant ? w.block : K;
  const int64_t n_blocks = K / block;
  HWY_ALIGN float buf[kTile];
  VF acc[T][MR][kVecs];
  _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt) {
    const int64_t cols = tt == T - 1 ? nt_last : kTile;
    _Pragma("GCC unroll 32") for (int r = 0; r < MR; ++r) {
      if (k0 == 0) {
        _Pragma("GCC unroll 32") for (size_t v = 0; v < vecs; ++v) acc[tt][r][v] = hn::Zero(df);
      } else if (cols == kTile) {
        _Pragma("GCC unroll 32") for (size_t v = 0; v < vecs; ++v) acc[tt][r][v] = hn::LoadU(df, y + r * ldy + tt * kTile + v * N);
      } else {
        for (int64_t j = 0; j < kTile; ++j) buf[j] = j < cols ? y[r * ldy + tt * kTile + j] : 0.0f;
        _Pragma("GCC unroll 32") for (size_t v = 0; v < vecs; ++v) acc[tt][r][v] = hn::Load(df, buf + v * N);
      }
    }
  }
  VF scale[T][kVecs], min[T][kVecs];
  for (int64_t kb = k0; kb < k1;) {
    const int64_t b = kb / block;
    const int64_t kend = std::min<int64_t>(k1, (b + 1) * block);
    if constexpr (kQuant) {
      _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt) {
        const float* s = w.scales.data() + ((t + tt) * n_blocks * (kMin ? 2 : 1) + b) * kTile;
        _Pragma("GCC unroll 32") for (size_t v = 0; v < vecs; ++v) {
          scale[tt][v] = hn::LoadU(df, s + v * N);
          min[tt][v] = kMin ? hn::LoadU(df, s + n_blocks * kTile + v * N) : hn::Zero(df);
        }
      }
    } else {
      _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt)
        _Pragma("GCC unroll 32") for (size_t v = 0; v < vecs; ++v) scale[tt][v] = min[tt][v] = hn::Zero(df);
    }
    const float* xk = xp + (kb - k0) * MR;
    for (int64_t k = kb; k < kend; ++k, xk += MR) {
      VF wv[T][kVecs];
      _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt)
        _Pragma("GCC unroll 32") for (size_t v = 0; v < vecs; ++v) wv[tt][v] = Weights<F, kMin>(df, w, t + tt, k, v, scale[tt][v], min[tt][v]);
      _Pragma("GCC unroll 32") for (int r = 0; r < MR; ++r) {
        const VF xr = hn::Set(df, xk[r]);
        _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt)
          _Pragma("GCC unroll 32") for (size_t v = 0; v < vecs; ++v) acc[tt][r][v] = hn::MulAdd(xr, wv[tt][v], acc[tt][r][v]);
      }
    }
    kb = kend;
  }
  _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt) {
    const int64_t cols = tt == T - 1 ? nt_last : kTile;
    _Pragma("GCC unroll 32") for (int r = 0; r < MR; ++r) {
      if (cols == kTile) {
        _Pragma("GCC unroll 32") for (size_t v = 0; v < vecs; ++v) hn::StoreU(acc[tt][r][v], df, y + r * ldy + tt * kTile + v * N);
      } else {
        _Pragma("GCC unroll 32") for (size_t v = 0; v < vecs; ++v) hn::Store(acc[tt][r][v], df, buf + v * N);
        for (int64_t j = 0; j < cols; ++j) y[r * ldy + tt * kTile + j] = buf[j];
      }
    }
  }
}

// Register tiles for this target, MR rows x T tiles of accumulators: AVX-512 has 32 registers of
// one tile each, AVX2 16 registers of half a tile.
constexpr bool kWide = kLanes >= 16;
constexpr int kMR1 = kWide ? 12 : 6, kT1 = kWide ? 2 : 1;  // 24 (12) accumulators
constexpr int kMR2 = kWide ? 8 : 4, kT2 = kWide ? 3 : 1;   // 24 (8)
constexpr int kMR3 = 4, kT3 = kWide ? 4 : 1;               // 16 (8)
constexpr int kT4 = kWide ? 4 : 2;                         // one row: 4 (4)

// MR rows of x over tiles [t0, t1) and k in [k0, k1): the rows are interleaved into xp once,
// then T tiles at a time, then single tiles.
template <PanelFormat F, bool kMin, int MR, int T>
HWY_NOINLINE void RowGroup(const float* x, const PackedMatrix& w, int64_t t0, int64_t t1, int64_t k0,
                           int64_t k1, float* y, int64_t ldy, float* xp) {
  const int64_t K = w.cols;
  for (int64_t k = k0; k < k1; ++k)
    for (int r = 0; r < MR; ++r) xp[(k - k0) * MR + r] = x[r * K + k];
  int64_t t = t0;
  for (; t + T <= t1; t += T) Micro<F, kMin, MR, T>(xp, w, t, k0, k1, y + t * kTile, ldy, ColsOf(w, t + T - 1));
  for (; t < t1; ++t) Micro<F, kMin, MR, 1>(xp, w, t, k0, k1, y + t * kTile, ldy, ColsOf(w, t));
}

// Tiles [t0, t1) for all m rows; y is the whole output. Blocks of kNc tiles x kc values of k
// keep the weights being reused in L2 and the interleaved rows of x in L1.
template <PanelFormat F, bool kMin>
void AllRows(const float* x, int64_t m, const PackedMatrix& w, int64_t t0, int64_t t1, float* y,
             int64_t ldy) {
  constexpr int64_t kNc = 32;
  const int64_t K = w.cols;
  const int64_t unit = kQuantFmt(F) ? w.block : 1;
  const int64_t kc = K <= 1024 ? K : std::max<int64_t>(unit, 512 / unit * unit);
  thread_local std::vector<float> xp;
  if (xp.size() < static_cast<size_t>(kc * kMR1)) xp.resize(static_cast<size_t>(kc * kMR1));
  for (int64_t n0 = t0; n0 < t1; n0 += kNc) {
    const int64_t n1 = std::min(t1, n0 + kNc);
    for (int64_t k0 = 0; k0 < K; k0 += kc) {
      const int64_t k1 = std::min(K, k0 + kc);
      for (int64_t i = 0; i < m;) {
        const float* xi = x + i * K;
        float* yi = y + i * ldy;
        if (m - i >= kMR1) {
          RowGroup<F, kMin, kMR1, kT1>(xi, w, n0, n1, k0, k1, yi, ldy, xp.data());
          i += kMR1;
        } else if (m - i >= kMR2) {
          RowGroup<F, kMin, kMR2, kT2>(xi, w, n0, n1, k0, k1, yi, ldy, xp.data());
          i += kMR2;
        } else if (m - i >= kMR3) {
          RowGroup<F, kMin, kMR3, kT3>(xi, w, n0, n1, k0, k1, yi, ldy, xp.data());
          i += kMR3;
        } else {
          RowGroup<F, kMin, 1, kT4>(xi, w, n0, n1, k0, k1, yi, ldy, xp.data());
          i += 1;
        }
      }
    }
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
