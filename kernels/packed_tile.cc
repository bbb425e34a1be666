// Highway bodies of the packed tile kernel (kernels/packed.h), for AVX-512 and AVX2. Per k, the
// kTile weights of a tile are formed in registers (loaded, widened from f16/bf16, or scale * q
// [- min] from int8/int4) and feed one MulAdd per accumulator: SIMD across output columns, one
// chain over k per output. A register tile covers MR rows x T tiles; K is walked in blocks of
// kKc with the partial sums parked in y between blocks (storing and reloading a float is exact,
// so every output is still one unbroken chain). MR, T and the blocking change no result.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/packed_tile.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include <algorithm>
#include <vector>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/matmul_tile.h"
#include "kernels/packed.h"
#include "kernels/simd.h"

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

// The weights AllRows multiplies next (the next column block, or the first one of the next k
// block): n_segs tiles, each seg_lines cache lines from base + s * seg_stride. While the current
// block runs, every micro-kernel call touches its share of these lines, `calls` shares in all, so
// the next block streams in from memory at an even rate rather than in bursts. Only addresses are
// touched: no effect on results. (Measured: without it, 7-10 % slower at M = 64.)
struct Ahead {
  const uint8_t* base = nullptr;
  int64_t seg_lines = 0, seg_stride = 0, n_segs = 0, calls = 0;
  int64_t lines() const { return seg_lines * n_segs; }
};

// One call's share of the next block's lines, spread evenly over its k steps: Step() runs once per
// k and touches per_k / kn lines on average (Bresenham).
struct AheadCursor {
  const uint8_t* seg = nullptr;
  int64_t line = 0, left = 0, seg_lines = 0, seg_stride = 0, debt = 0, per_k = 0, kn = 1;
  AheadCursor(const Ahead& a, int64_t call, int64_t k_steps) {
    if (a.calls == 0 || a.n_segs == 0) return;
    const int64_t l = call * a.lines() / a.calls, l_end = (call + 1) * a.lines() / a.calls;
    seg = a.base + (l / a.seg_lines) * a.seg_stride;
    line = l % a.seg_lines;
    left = l_end - l;
    seg_lines = a.seg_lines;
    seg_stride = a.seg_stride;
    per_k = left;
    kn = std::max<int64_t>(1, k_steps);
  }
  HWY_INLINE void Step() {
    for (debt += per_k; debt >= kn && left > 0; debt -= kn, --left) {
      hwy::Prefetch(seg + line * 64);
      if (++line == seg_lines) {
        line = 0;
        seg += seg_stride;
      }
    }
  }
};

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
// With kAhead, also touches this call's share of the next block (AheadCursor).
template <PanelFormat F, bool kMin, int MR, int T, bool kAhead>
HWY_INLINE void Micro(const float* HWY_RESTRICT xp, const PackedMatrix& w, int64_t t, int64_t k0,
                      int64_t k1, float* HWY_RESTRICT y, int64_t ldy, int64_t nt_last, AheadCursor ahead) {
  const DF df;
  const size_t N = hn::Lanes(df);
  constexpr size_t vecs = kVecs;
  const int64_t K = w.cols;
  constexpr bool kQuant = kQuantFmt(F);
  const int64_t block = kQuant ? w.block : K;
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
      // scale = super * sub, the product ScaleOf forms (kernels/packed.h)
      const hn::Rebind<hwy::float16_t, DF> dh;
      const hn::Rebind<int8_t, DF> d8;
      const hn::Rebind<int32_t, DF> d32;
      _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt) {
        const uint8_t* sub = SubsOf(w, t + tt, b);
        const float* super = SupersOf(w, t + tt, b);
        _Pragma("GCC unroll 32") for (size_t v = 0; v < vecs; ++v) {
          const auto sub_at = [&](int64_t at) {  // PackedMatrix::int_subs: int8 or half
            if (w.int_subs) {
              const auto* s8 = reinterpret_cast<const int8_t*>(sub) + at;
              return hn::ConvertTo(df, hn::PromoteTo(d32, hn::LoadU(d8, s8)));
            }
            const auto* h = reinterpret_cast<const hwy::float16_t*>(sub) + at;
            return hn::PromoteTo(df, hn::LoadU(dh, h));
          };
          scale[tt][v] = hn::Mul(hn::LoadU(df, super + v * N), sub_at(v * N));
          min[tt][v] = kMin ? hn::Mul(hn::LoadU(df, super + kTile + v * N), sub_at(kTile + v * N))
                            : hn::Zero(df);
        }
      }
    } else {
      _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt)
        _Pragma("GCC unroll 32") for (size_t v = 0; v < vecs; ++v) scale[tt][v] = min[tt][v] = hn::Zero(df);
    }
    const float* xk = xp + (kb - k0) * MR;
    for (int64_t k = kb; k < kend; ++k, xk += MR) {
      if constexpr (kAhead) ahead.Step();
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
// The float formats take up to 14 rows x 2 tiles on AVX-512 (28 accumulators, 2 weight vectors
// and one broadcast: 31 registers); the quantized ones (--kernels float) need 4 more for scales
// and mins and take up to 12. 14 rows against 12: 1.01-1.03x on the f32 8B shapes at M = 64-1024
// (one process, timed in turn, best of each, 1 and 2 threads): a block of weights is passed over
// by 5 row groups at M = 64 instead of 6, and each weight loaded from L2/L3 feeds 28 FMAs, not 24.
constexpr int kMR0 = kWide ? 14 : 6;  // 28 (12) accumulators
constexpr int kMR1 = kWide ? 12 : 6;  // 24 (12)

// Tiles per micro-kernel call for a row group of mr rows: as many as the accumulators allow
// (AVX-512: 28 of them, at most 4 tiles; AVX2: 12 half tiles).
constexpr int TilesFor(int mr) {
  return kWide ? (mr >= 10 ? 2 : mr >= 8 ? 3 : 4) : (mr >= 3 ? 1 : 2);
}

// Row groups. The float formats split the rows into as many groups as kMR0-row groups need, as
// evenly as they go, with a micro-kernel for every height up to kMR0: 64 rows are 13 x 4 + 12,
// 63 are 13 x 3 + 12 x 2, 20 are 10 x 2 and 7 one group of 7, where the tallest-first split took
// 14 x 4 + 8, 14 x 4 + 4 + 1 x 3, 14 + 4 + 1 x 2 and 4 + 1 x 3. Each group passes over the whole
// block of weights, so a 1-row group costs a pass for a row, and 8- and 4-row groups feed fewer
// FMAs per weight loaded than 14-row ones. Against tallest-first (f32 8B shapes, one thread, the
// two builds in alternate processes, best of 2 each): M = 2 1.7-1.9x, 7 2.3-2.6x, 11 2.1-2.2x,
// 16 1.1x, 20 1.5-1.6x, 32 1.04-1.08x, 45 1.1-1.15x, 63 1.25-1.28x, 64 1.01-1.05x (89.8-92.7 % of
// the FMA peak), 256 1.01-1.04x; M = 1, 4, 8 (the same groups) 0.94-1.04x. The quantized
// formats (the --kernels float path, for comparisons) keep tallest-first over 12, 8, 4 and 1 rows
// (AVX2: 6, 4, 1): fewer template instances.
template <PanelFormat F>
HWY_INLINE int GroupRows(int64_t m, int64_t i) {
  const int64_t left = m - i;
  if constexpr (kQuantFmt(F)) {
    constexpr int kMid = kWide ? 8 : 4;
    return left >= kMR1 ? kMR1 : left >= kMid ? kMid : left >= 4 ? 4 : 1;
  } else {
    return EvenGroupRows(left, kMR0);
  }
}

// fn(std::integral_constant<int, mr>()) for a height mr that GroupRows<F> returns.
template <PanelFormat F, class Fn>
HWY_INLINE void WithGroupRows(int mr, const Fn& fn) {
  if constexpr (kQuantFmt(F)) {
    constexpr int kMid = kWide ? 8 : 4;
    if (mr == kMR1) fn(std::integral_constant<int, kMR1>());
    else if (mr == kMid) fn(std::integral_constant<int, kMid>());
    else if (mr == 4) fn(std::integral_constant<int, 4>());
    else fn(std::integral_constant<int, 1>());
  } else {
    WithRows<kMR0>(mr, fn);
  }
}

// Does RowGroup<F, .., mr, T> end its tiles with a 2-tile call (rather than single ones)?
template <PanelFormat F>
constexpr bool kPairTail(int tiles) {
  return !kQuantFmt(F) && tiles > 2;
}

// Micro-kernel calls RowGroup makes for a group of mr rows over n tiles.
template <PanelFormat F>
HWY_INLINE int64_t GroupCalls(int mr, int64_t n) {
  const int64_t tiles = TilesFor(mr), rest = n % tiles;
  return n / tiles + (kPairTail<F>(tiles) && rest >= 2 ? rest - 1 : rest);
}

// Rows [i, i + MR) of x over tiles [t0, t1) and k in [k0, k1); xp holds them interleaved
// (Interleave): T tiles at a time, then (kPairTail) two, then single tiles; a tail of 8 x 1 calls
// of 8 accumulators each was 1.03-1.08x slower than one 8 x 2 at M = 8-18. Call c of the block
// (from `call`) touches share c of the next block's lines: only the float formats do (the
// quantized ones here are the --kernels float path), and only groups of at least half of kMR0
// rows, the heights of a split into several groups (a single group, the only one shorter, streams
// its block once anyway): fewer template instances.
template <PanelFormat F, bool kMin, int MR, int T>
HWY_NOINLINE void RowGroup(const float* xp, const PackedMatrix& w, int64_t t0, int64_t t1, int64_t k0,
                           int64_t k1, float* y, int64_t ldy, const Ahead& ahead, int64_t call) {
  constexpr bool kCanPrefetch = !kQuantFmt(F) && 2 * MR >= kMR0;
  const bool prefetch = kCanPrefetch && ahead.calls > 0;  // AllRows fills `ahead` for the floats
  const auto micro = [&](auto tiles) {
    constexpr int kT = decltype(tiles)::value;
    const AheadCursor cursor(ahead, call, k1 - k0);
    const int64_t nt_last = ColsOf(w, t0 + kT - 1);
    float* yt = y + t0 * kTile;
    if (prefetch) Micro<F, kMin, MR, kT, kCanPrefetch>(xp, w, t0, k0, k1, yt, ldy, nt_last, cursor);
    else Micro<F, kMin, MR, kT, false>(xp, w, t0, k0, k1, yt, ldy, nt_last, cursor);
    t0 += kT, ++call;
  };
  while (t0 + T <= t1) {
    // the next call's partial sums, a line per row and tile, so that its first loads do not stall
    // (about 1.02-1.03x at M = 1024 on the 8B shapes)
    if (k0 > 0 && t0 + 2 * T <= t1) {
      _Pragma("GCC unroll 32") for (int r = 0; r < MR; ++r)
        _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt)
          hwy::Prefetch(y + r * ldy + (t0 + T + tt) * kTile);
    }
    micro(std::integral_constant<int, T>());
  }
  if constexpr (kPairTail<F>(T)) {
    if (t0 + 2 <= t1) micro(std::integral_constant<int, 2>());
  }
  while (t0 < t1) micro(std::integral_constant<int, 1>());
}

// Rows [0, MR) of x, columns [k0, k1), into xp as [k - k0][MR].
template <int MR>
HWY_INLINE void InterleaveGroup(const float* HWY_RESTRICT x, int64_t K, int64_t k0, int64_t k1,
                                float* HWY_RESTRICT xp) {
  int64_t k = k0;
#if HWY_TARGET != HWY_SCALAR
  // 4 x 4 transposes (rows r..r+3 at k..k+3 -> 4 stores of 4 rows), a copy like the loop below:
  // 1.03-1.06x on the tiny shapes, where interleaving x is up to a tenth of the time
  if constexpr (MR % 4 == 0) {
    const hn::FixedTag<float, 4> d4;
    const hn::Repartition<double, decltype(d4)> d2;
    for (; k + 4 <= k1; k += 4, xp += 4 * MR) {
      _Pragma("GCC unroll 4") for (int r = 0; r < MR; r += 4) {
        const auto a = hn::LoadU(d4, x + r * K + k), b = hn::LoadU(d4, x + (r + 1) * K + k);
        const auto c = hn::LoadU(d4, x + (r + 2) * K + k), e = hn::LoadU(d4, x + (r + 3) * K + k);
        const auto ab_lo = hn::BitCast(d2, hn::InterleaveLower(d4, a, b));  // a0 b0 a1 b1
        const auto ab_hi = hn::BitCast(d2, hn::InterleaveUpper(d4, a, b));  // a2 b2 a3 b3
        const auto ce_lo = hn::BitCast(d2, hn::InterleaveLower(d4, c, e));
        const auto ce_hi = hn::BitCast(d2, hn::InterleaveUpper(d4, c, e));
        hn::StoreU(hn::BitCast(d4, hn::InterleaveLower(d2, ab_lo, ce_lo)), d4, xp + r);
        hn::StoreU(hn::BitCast(d4, hn::InterleaveUpper(d2, ab_lo, ce_lo)), d4, xp + MR + r);
        hn::StoreU(hn::BitCast(d4, hn::InterleaveLower(d2, ab_hi, ce_hi)), d4, xp + 2 * MR + r);
        hn::StoreU(hn::BitCast(d4, hn::InterleaveUpper(d2, ab_hi, ce_hi)), d4, xp + 3 * MR + r);
      }
    }
  }
#endif
  for (; k < k1; ++k, xp += MR)
    _Pragma("GCC unroll 16") for (int r = 0; r < MR; ++r) xp[r] = x[r * K + k];
}

// Columns [k0, k1) of all m rows of x, interleaved per row group: the group of MR rows starting
// at row i occupies xp[i * kc, (i + MR) * kc) as [k - k0][MR].
template <PanelFormat F>
HWY_INLINE void Interleave(const float* x, int64_t m, int64_t K, int64_t k0, int64_t k1, int64_t kc,
                           float* xp) {
  for (int64_t i = 0; i < m;) {
    const int mr = GroupRows<F>(m, i);
    WithGroupRows<F>(mr, [&](auto rows) {
      InterleaveGroup<decltype(rows)::value>(x + i * K, K, k0, k1, xp + i * kc);
    });
    i += mr;
  }
}

// Tiles [t0, t1) for m <= kChunkRows rows (AllRows); y is the whole output. K is walked in blocks
// of up to 4096 values (x's block interleaved once, Interleave), each over column blocks of
// weights that every row group passes over in turn. Two regimes (measured on Zen 5, 1 MiB L2, f32
// 8B shapes, each against the other's blocking in the same process, timed in turn):
//  - one row group (m <= 14): column blocks of about 2 MiB, streamed once: each tile of a block is
//    one sequential stream of kc * 64 bytes (long streams are what the prefetchers keep up with),
//    and the block holds enough tiles for the group's widest call (half-L2 blocks of 2 tiles:
//    0.87-0.94x at M = 8, where the 8-row group takes 3 tiles).
//  - several groups: column blocks of half the L2 (512 KiB here: 2 tiles), which the later groups
//    re-read from L2 while the next block is touched ahead from memory (AheadCursor). Against the
//    2 MiB blocks, which the later groups re-read from L3: one thread 1.00-1.09x at M = 16-300
//    (M = 16, 20: 1.05-1.09x), two threads 1.00-1.06x; while other tenants load the memory system
//    (FMA peak unchanged, this product down to 70-85 % of it), 1.01-1.08x at M = 64-256. (Against
//    512-deep K blocks of 256 KiB: 1.3-1.5x at M = 8, 1.08-1.17x at M = 32, 1.09-1.14x at M = 64.)
template <PanelFormat F, bool kMin>
void ChunkRows(const float* x, int64_t m, const PackedMatrix& w, int64_t t0, int64_t t1, float* y,
               int64_t ldy) {
  const int64_t K = w.cols;
  const int64_t unit = kQuantFmt(F) ? w.block : 1;
  const int first_rows = GroupRows<F>(m, 0);
  const bool several = first_rows < m;
  const int64_t kc = std::min(K, std::max<int64_t>(unit, 4096 / unit * unit));
  const int64_t block_bytes = kc * BytesPerK(F);
  const int64_t block_target = several ? L2CacheBytes() / 2 : int64_t{2048} << 10;
  const int64_t min_tiles = std::max(2, TilesFor(first_rows));  // the group's widest call
  const int64_t kNc = std::max<int64_t>(min_tiles, block_target / block_bytes);
  thread_local std::vector<float> xp;
  if (xp.size() < static_cast<size_t>(m * kc)) xp.resize(static_cast<size_t>(m * kc));
  for (int64_t k0 = 0; k0 < K; k0 += kc) {
    const int64_t k1 = std::min(K, k0 + kc);
    Interleave<F>(x, m, K, k0, k1, kc, xp.data());
    for (int64_t n0 = t0; n0 < t1; n0 += kNc) {
      const int64_t n1 = std::min(t1, n0 + kNc);
      // the next block: the next column block, or the first one of the next k block; touched
      // ahead when there are several row groups (a single one streams its block once anyway), for
      // the float formats only (the quantized ones here are the --kernels float path)
      Ahead ahead;
      int64_t next_t0 = -1, next_k0 = 0, next_t1 = 0;
      if (n1 < t1) {
        next_t0 = n1, next_k0 = k0, next_t1 = std::min(t1, n1 + kNc);
      } else if (k1 < K) {
        next_t0 = t0, next_k0 = k1, next_t1 = std::min(t1, t0 + kNc);
      }
      if (!kQuantFmt(F) && next_t0 >= 0 && several) {
        const int64_t bytes = (std::min(K, next_k0 + kc) - next_k0) * BytesPerK(F);
        ahead.base = w.values.data() + (next_t0 * K + next_k0) * BytesPerK(F);
        ahead.seg_lines = (bytes + 63) / 64;
        ahead.seg_stride = K * BytesPerK(F);
        ahead.n_segs = next_t1 - next_t0;
        for (int64_t i = 0, mr = 0; i < m; i += mr) {
          mr = GroupRows<F>(m, i);
          ahead.calls += GroupCalls<F>(static_cast<int>(mr), n1 - n0);
        }
      }
      int64_t call = 0;
      for (int64_t i = 0; i < m;) {
        const float* xi = xp.data() + i * kc;
        float* yi = y + i * ldy;
        const int mr = GroupRows<F>(m, i);
        WithGroupRows<F>(mr, [&](auto rows) {
          constexpr int kRows = decltype(rows)::value;
          RowGroup<F, kMin, kRows, TilesFor(kRows)>(xi, w, n0, n1, k0, k1, yi, ldy, ahead, call);
        });
        call += GroupCalls<F>(mr, n1 - n0);
        i += mr;
      }
    }
  }
}

// Rows in even chunks of at most kChunkRows, one after the other (ChunkRows): the x rows of a K
// block (chunk x 4096 floats, 4 MiB) stay in L3 while every column block re-reads them, and
// each chunk streams the weights from memory once more (at 256 rows that is a weight byte per 128
// flops: a few GB/s). Against one pass over all rows in 1024-deep K blocks (what ran before, for
// m >= 320), f32 8B shapes, same process, timed in turn, three runs: one thread 1.01-1.05x at
// M = 1024, 1.01-1.06x at 768, 0.99-1.03x at 512 and 320; two threads 1.01-1.13x at M = 512-1024.
constexpr int64_t kChunkRows = 256;

template <PanelFormat F, bool kMin>
void AllRows(const float* x, int64_t m, const PackedMatrix& w, int64_t t0, int64_t t1, float* y,
             int64_t ldy) {
  const int64_t chunks = (m + kChunkRows - 1) / kChunkRows;
  for (int64_t c = 0, r0 = 0; c < chunks; ++c) {
    const int64_t r1 = (c + 1) * m / chunks;
    ChunkRows<F, kMin>(x + r0 * w.cols, r1 - r0, w, t0, t1, y + r0 * ldy, ldy);
    r0 = r1;
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
    case PanelFormat::kU8Quads:  // int8-activation formats: kernels/int8_matmul.cc, never here
    case PanelFormat::kU4Quads:
    case PanelFormat::kU2Quads:
      return;
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
