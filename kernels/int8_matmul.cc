// Quantized weights x int8 activations (kernels/int8_matmul.h): activation quantization and the
// AVX-512 VNNI and AVX2 kernels (their scalar twin is in kernels/reference.cc), written with intrinsics (Highway 1.0 has no
// u8 x s8 dot product) and compiled for their targets with function attributes.
#include "kernels/int8_matmul.h"

// GCC 12 warns "'__Y' may be used uninitialized" inside avx512fintrin.h for every kernel instance
// (GCC bug 105593: the _mm512_undefined_* placeholders of its own intrinsics; fixed in GCC 13).
// Over a hundred lines of noise that hid real warnings; the kernels initialize all they read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/matmul_tile.h"
#include "kernels/parallel.h"
#include "kernels/simd.h"

namespace sculpt::kernels {

namespace {

// Round to nearest, ties to even, for |v| <= 2^22 (here |v| <= 127 * (1 + 2^-23)): adding and
// subtracting 1.5 * 2^23 leaves the integer nearest to v. The same as nearbyint in the default
// rounding mode, and as vrndscaleps in the AVX-512 version, without a libm call.
inline float RoundEven(float v) {
  volatile float big = 12582912.0f;  // volatile: the compiler must not fold (v + big) - big
  const float b = big;
  return (v + b) - b;
}

void QuantizeRowScalar(const float* x, int64_t k, int64_t block, int8_t* q, float* d_out, int32_t* s_out) {
  for (int64_t b = 0; b < k / block; ++b) {
    const float* xb = x + b * block;
    float amax = 0.0f;
    for (int64_t j = 0; j < block; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int32_t s = 0;
    for (int64_t j = 0; j < block; ++j) {
      q[b * block + j] = static_cast<int8_t>(std::clamp(RoundEven(xb[j] * id), -127.0f, 127.0f));
      s += q[b * block + j];
    }
    d_out[b] = d;
    s_out[b] = s;
  }
}

__attribute__((target("avx512f,avx512bw,avx512vl")))
void QuantizeRowAvx512(const float* x, int64_t k, int64_t block, int8_t* q, float* d_out, int32_t* s_out) {
  for (int64_t b = 0; b < k / block; ++b) {
    const float* xb = x + b * block;
    __m512 amax = _mm512_setzero_ps();
    for (int64_t j = 0; j < block; j += 16) amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_loadu_ps(xb + j)));
    const float d = _mm512_reduce_max_ps(amax) / 127.0f;
    const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    __m512i sum = _mm512_setzero_si512();
    for (int64_t j = 0; j < block; j += 16) {
      __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_loadu_ps(xb + j), id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      r = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
      const __m512i qi = _mm512_cvtps_epi32(r);
      sum = _mm512_add_epi32(sum, qi);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * block + j), _mm512_cvtsepi32_epi8(qi));
    }
    d_out[b] = d;
    s_out[b] = _mm512_reduce_add_epi32(sum);
  }
}

}  // namespace

void QuantizeRows(const float* x, int64_t m, int64_t k, int64_t block, QuantizedRows* out) {
  const int64_t nb = k / block;
  out->m = m;
  out->k = k;
  out->block = block;
  out->q.resize(static_cast<size_t>(m * k));
  out->d.resize(static_cast<size_t>(m * nb));
  out->sum.resize(static_cast<size_t>(m * nb));
  const bool avx512 = CurrentSimdTarget() == SimdTarget::kAvx512 && block % 16 == 0;
  ParallelChunks(m, 8, static_cast<double>(k) * 8, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      int8_t* q = out->q.data() + i * k;
      float* d = out->d.data() + i * nb;
      int32_t* s = out->sum.data() + i * nb;
      if (avx512) {
        QuantizeRowAvx512(x + i * k, k, block, q, d, s);
      } else {
        QuantizeRowScalar(x + i * k, k, block, q, d, s);
      }
    }
  });
}

namespace {

// Tiles per column block: the weights of one block (all of K, half the L2) stay in L2 across row
// groups. At least 4, so that single rows (the M = 1 decode path) always stream four tiles at once:
// one stream from memory at a time reaches about half the bandwidth (Q8_0 with K = 14336, 224 KiB
// per tile, measured 18 GB/s with blocks of 2 tiles, 33 GB/s with 4).
int64_t TilesPerBlock(const PackedMatrix& w) {
  const int64_t bytes_per_tile = w.cols * BytesPerK(w.format);
  return std::clamp<int64_t>(L2CacheBytes() / 2 / std::max<int64_t>(1, bytes_per_tile), 4, 32);
}

// The bytes at p as a vector type, for the load intrinsics.
template <class V>
const V* Ptr(const uint8_t* p) {
  return reinterpret_cast<const V*>(p);
}

// Software prefetch in the first row group over each column block (ForTileCalls). A call over T
// tiles reads 3 T streams (each tile's weights, sub-scales and super-scales) that end after K
// values (32 KiB of Q4_0 at K = 4096), more and shorter streams than the hardware prefetchers
// follow at full speed; so every load is preceded by a prefetch further along its stream
// (kAheadBytes of weights, kAheadBlocks blocks of scales, the next super-scales), and past the
// tile's end at the same place in tile t + T, which the next call reads. One thread, 14336 x 4096
// and 4096 x 4096, copies beyond the caches, the builds in alternate processes: M = 1 Q4_0
// 1.05-1.5x, Q4_K 1.05-1.2x, Q8_0 1.05-1.5x; M = 2-4 1.0-1.2x. Addresses only: no result changes.
// 2 KiB of weights ahead rather than 1 (one process, the two distances in alternate rounds, 9-15
// rounds, medians; 14336 x 4096 and 4096 x 4096): one thread Q4_K, Q4_0, Q8_0, Q5_K, Q6_K
// 1.05-1.12x at M = 1, Q4_K and Q8_0 1.11-1.16x at M = 2-4, AVX2 1.13x; two threads 1.05x while the
// memory system was fast, 0.99-1.07x while it was not; 4 KiB 0.95-1.0x (12 streams of 4 KiB fill a
// 48 KiB L1).
// The first row group over each column block prefetches (every group of a GEMV or small batch, as
// before only groups of up to 4 rows did): it streams the block from memory, and the later groups
// re-read it from L2, where prefetches only take load slots. Against the up-to-4-rows rule (one
// thread, 14336 x 4096, the builds in alternate processes): Q4_K / Q8_0 M = 8 1.29-1.50x, M = 17
// 1.18-1.38x, M = 32 1.17-1.20x, M = 256 and 1024 equal; prefetching in every group instead was as
// fast at M <= 256 (in alternate rounds of one process: M = 8 1.26-1.71x, 64 1.01-1.09x; AVX-VNNI
// Q8_0 1.03-1.18x; plain AVX2, which prefetched for single rows only, M = 2-17 1.05-1.51x) but
// 0.92x at M = 1024 (Q8_0, 4096 x 4096: 73 groups, each paying for the prefetches).
constexpr int64_t kAheadBytes = 2048, kAheadBlocks = 8;

// Prefetches `dist` bytes beyond `at`, the byte at offset `pos` of a tile whose stream is `len`
// bytes long, with the tiles of the stream `len` apart; past the end, in the tile `skip` tiles on
// (the T - 1 tiles in between are this call's). Integer arithmetic: the address may lie beyond the
// buffer, which a prefetch may touch without effect.
inline void PrefetchAhead(const void* at, int64_t pos, int64_t len, int64_t dist, int64_t skip) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(at) + static_cast<uintptr_t>(dist) +
                      static_cast<uintptr_t>(pos + dist < len ? 0 : skip * len);
  _mm_prefetch(reinterpret_cast<const char*>(a), _MM_HINT_T0);
}

// The weights at `base`, line `line` of a tile's `lines` (kTile x 4 bytes per k step), ahead.
inline void PrefetchWeights(const uint8_t* base, int64_t line, int64_t lines, int64_t skip) {
  PrefetchAhead(base, line * kTile * 4, lines * kTile * 4, kAheadBytes, skip);
}

// The scales (subs and supers) of block b of tile t, ahead: positions and lengths within a tile
// from the layout's own offsets (sub_at, super_at of tile 0; a tile's length is where tile 1
// starts); the supers one super-block ahead.
inline void PrefetchScales(const PackedMatrix& w, int64_t t, int64_t b, int64_t skip) {
  PrefetchAhead(SubsOf(w, t, b), w.sub_at(0, b), w.sub_at(1, 0), w.sub_at(0, kAheadBlocks), skip);
  const int64_t f = sizeof(float);  // super_at counts floats
  PrefetchAhead(SupersOf(w, t, b), w.super_at(0, b) * f, w.super_at(1, 0) * f,
                w.scale_sets() * kTile * f, skip);
}

// What a weight byte of the int8 kernels holds: one value (kU8Quads), two nibbles (kU4Quads),
// two nibbles that index the IQ4 levels (kU4Quads with PackedMatrix::levels), two nibbles
// completed by one or two bit planes (the 5- and 6-bit types, PackedMatrix::planes), or four
// crumbs (kU2Quads: Q2_K). Every kind but bytes is read as nibbles, 8 k per step: crumbs load
// 16 k at once and shift each step's two crumbs down.
constexpr int kBytes = 0, kNibbles = 1, kLevelNibbles = 2, kNibbles5 = 3, kNibbles6 = 4,
              kCrumbs = 5;
constexpr int PlaneCount(int kind) { return kind == kNibbles5 ? 1 : kind == kNibbles6 ? 2 : 0; }
// k per weight load
constexpr int64_t KPerLoad(int kind) { return kind == kCrumbs ? 16 : kind == kBytes ? 4 : 8; }

// The weights of tile t from k (a multiple of KPerLoad): kTile x 4 bytes per load.
template <int kKind>
inline const uint8_t* WeightsAt(const PackedMatrix& w, int64_t t, int64_t k) {
  constexpr int64_t kPer = KPerLoad(kKind);
  return w.values.data() + (t * (w.cols / kPer) + k / kPer) * kTile * 4;
}

// fn(kind, has_min), both compile-time constants, for w's stored form: the one map from a packed
// matrix to the kernel instances that every SIMD path provides (the IQ4 levels and two bit
// planes come without mins).
template <class Fn>
void WithKind(const PackedMatrix& w, const Fn& fn) {
  const auto with_min = [&](auto kind) {
    if (w.has_min) return fn(kind, std::true_type());
    fn(kind, std::false_type());
  };
  using std::integral_constant;
  if (w.format == PanelFormat::kU2Quads) return with_min(integral_constant<int, kCrumbs>());
  if (w.format != PanelFormat::kU4Quads) return with_min(integral_constant<int, kBytes>());
  if (w.levels) return fn(integral_constant<int, kLevelNibbles>(), std::false_type());
  if (w.planes == 2) return fn(integral_constant<int, kNibbles6>(), std::false_type());
  if (w.planes == 1) return with_min(integral_constant<int, kNibbles5>());
  with_min(integral_constant<int, kNibbles>());
}

// The 16 IQ4 levels plus `offset`, as the bytes of the table that the kernels' byte shuffles look
// level indices up in (offset 127: unsigned for vpdpbusd; 0: the signed levels), repeated in
// each 16-byte lane of a 64-byte vector (the shuffles look up within lanes).
struct LevelTable {
  alignas(64) uint8_t bytes[64];
  explicit LevelTable(int32_t offset) {
    for (int i = 0; i < 64; ++i) bytes[i] = static_cast<uint8_t>(kIq4Levels[i % 16] + offset);
  }
};

// A row group's micro-kernel calls over tiles [n0, n1), the same in every SIMD path: fn(t, tiles,
// prefetch) with T tiles a call, then single tiles; `prefetch` (a compile-time bool) is `ahead`,
// true for the first group over a column block, which streams it from memory (kAheadBytes).
template <int T, class Fn>
void ForTileCalls(int64_t n0, int64_t n1, bool ahead, const Fn& fn) {
  const auto run = [&](auto prefetch) {
    int64_t t = n0;
    for (; t + T <= n1; t += T) fn(t, std::integral_constant<int, T>(), prefetch);
    for (; t < n1; ++t) fn(t, std::integral_constant<int, 1>(), prefetch);
  };
  if (ahead) return run(std::true_type());
  run(std::false_type());
}

}  // namespace

// ---- AVX-512 VNNI ------------------------------------------------------------------------------
#define SCULPT_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma,avx2")))

namespace {

// vpdpbusd through inline asm: GCC 12 gives the intrinsic's operands only zmm0-15, so a register
// tile of more than about 12 accumulators spills on every k (14 x 2 ran at half speed).
SCULPT_VNNI inline __m512i DpBusd(__m512i acc, __m512i u8, __m512i s8) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8));
  return acc;
}

// One row group's activations, interleaved so that every broadcast in the kernel is a constant
// offset from one pointer: q as [K/4][MR][4] bytes, and per block b the row's d, offset * s and
// -s as [nb][MR].
struct GroupX {
  const int8_t* q;
  const float* d;
  const int32_t* offset_s;
  const float* neg_s;
};

// Row heights of the VNNI kernel's groups: up to 14 rows x 2 tiles for byte weights (28
// accumulators, 2 weight vectors, one broadcast), 12 x 2 for nibbles (2 more registers for the high
// and low halves).
template <int kNib>
constexpr int kTopRows = kNib ? 12 : 14;

// Tiles per call for a group of mr rows: as many as the registers allow (bytes: mr x T accumulators
// + T weight vectors + a broadcast; nibbles: two vectors per weight tile).
template <int kNib>
constexpr int VnniTiles(int mr) {
  return kNib ? (mr >= 6 ? 2 : 4) : (mr >= 10 ? 2 : mr >= 8 ? 3 : 4);
}

// Every int8 kernel splits the rows into as many groups as its tallest groups need, as evenly as
// they go (ForEachRowGroup), with a kernel for every height (as the float kernels,
// kernels/packed_tile.cc): 7 rows are one group, not 4 + 1 + 1 + 1 (single rows each
// pass over the weights), 20 are 10 + 10, not 14 + 4 + 1 + 1. Against tallest-first (8B shapes,
// one thread, the two builds in alternate processes, best of 2): Q8_0 at 4096 x 14336 M = 2-7
// 1.9-2.7x, 11 1.9x, 20 1.3x, 32-63 1.04-1.08x; at 4096 x 4096 (in L3) M = 3, 7, 11 1.33-1.38x,
// M = 2 0.98x; Q4_0 M = 3, 7, 11 1.1-1.36x; M >= 16 0.96-1.07x (noise: 16 rows split as before).

// All rows of x in the GroupX layout, group by group: the group at row i at offset i * K (q) and
// i * nb (the rest).
struct GroupedRows {
  std::vector<int8_t> q;
  std::vector<float> d, neg_s;
  std::vector<int32_t> offset_s;
  GroupX At(int64_t i, int64_t K, int64_t nb) const {
    return {q.data() + i * K, d.data() + i * nb, offset_s.data() + i * nb, neg_s.data() + i * nb};
  }
};

// Rows [i, i + mr) of x into g.
void GroupRows(const QuantizedRows& x, int64_t i, int mr, int32_t offset, GroupedRows* g) {
  const int64_t K = x.k, nb = K / x.block;
  int32_t* q = reinterpret_cast<int32_t*>(g->q.data() + i * K);
  for (int64_t k4 = 0; k4 < K / 4; ++k4)
    for (int r = 0; r < mr; ++r) std::memcpy(q + k4 * mr + r, x.q.data() + (i + r) * K + 4 * k4, 4);
  for (int64_t b = 0; b < nb; ++b) {
    for (int r = 0; r < mr; ++r) {
      const auto at = static_cast<size_t>(i * nb + b * mr + r);
      const auto from = static_cast<size_t>((i + r) * nb + b);
      g->d[at] = x.d[from];
      g->offset_s[at] = offset * x.sum[from];
      g->neg_s[at] = static_cast<float>(-x.sum[from]);
    }
  }
}

// All rows of x into g, in the groups ForEachRowGroup<kTop> makes.
template <int kTop>
void RegroupAll(const QuantizedRows& x, int32_t offset, GroupedRows* g) {
  const int64_t m = x.m, K = x.k, nb = K / x.block;
  g->q.resize(static_cast<size_t>(m * K));
  g->d.resize(static_cast<size_t>(m * nb));
  g->offset_s.resize(static_cast<size_t>(m * nb));
  g->neg_s.resize(static_cast<size_t>(m * nb));
  ForEachRowGroup<kTop>(m, [&](int64_t i, auto rows) { GroupRows(x, i, rows, offset, g); });
}

// The float sums of an MR x T tile: in registers when few (single rows and small groups), else in
// an L1 array, read and written once per block, so that the integer sums keep the registers.
template <int MR, int T, bool kRegs = (MR * T <= 8)>
struct FloatSums {
  __m512 v[MR][T];
  SCULPT_VNNI __m512 Get(int r, int tt) const { return v[r][tt]; }
  SCULPT_VNNI void Set(int r, int tt, __m512 a) { v[r][tt] = a; }
};
template <int MR, int T>
struct FloatSums<MR, T, false> {
  alignas(64) float v[MR][T][kTile];
  SCULPT_VNNI __m512 Get(int r, int tt) const { return _mm512_load_ps(v[r][tt]); }
  SCULPT_VNNI void Set(int r, int tt, __m512 a) { _mm512_store_ps(v[r][tt], a); }
};

// The kTile scales (which 0) or mins (which 1) of tile t, block b: the super times the
// sub (int8 or half precision), the product every kernel forms (ScaleOf, kernels/packed.h).
SCULPT_VNNI inline __m512 ScaleVnni(const PackedMatrix& w, int64_t t, int64_t b, int which) {
  const uint8_t* sub = SubsOf(w, t, b) + which * w.sub_set();
  const __m512 subs =
      w.int_subs ? _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(Ptr<__m128i>(sub))))
                 : _mm512_cvtph_ps(_mm256_loadu_si256(Ptr<__m256i>(sub)));
  return _mm512_mul_ps(_mm512_loadu_ps(SupersOf(w, t, b) + which * kTile), subs);
}

// The low and high nibbles (k + i and k + 4 + i, i = 0..3) of tile t's group of 8 k from k, from
// the load v (WeightsAt): for crumbs the load's crumbs 2g and 2g + 1; the IQ4 levels looked up
// (level + offset); the planes' bits added, their stream prefetched (T tiles a call).
template <int kKind, bool kAhead>
SCULPT_VNNI inline void NibblesVnni(__m512i v, int g, const PackedMatrix& w, int64_t t, int64_t k,
                                    int T, __m512i levels, __m512i* lo, __m512i* hi) {
  if constexpr (kKind == kCrumbs) {
    const __m512i low2 = _mm512_set1_epi8(0x03);
    const __m512i vg = g ? _mm512_srli_epi16(v, 4) : v;  // g is a constant once unrolled
    *lo = _mm512_and_si512(vg, low2);
    *hi = _mm512_and_si512(_mm512_srli_epi16(vg, 2), low2);
  } else {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    *lo = _mm512_and_si512(v, low4);
    *hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
  }
  if constexpr (kKind == kLevelNibbles) {
    *lo = _mm512_shuffle_epi8(levels, *lo);
    *hi = _mm512_shuffle_epi8(levels, *hi);
  }
  for (int p = 0; p < PlaneCount(kKind); ++p) {  // bits 4, 5
    const uint8_t* plane = PlanesOf(w, t, k) + p * 16;
    if constexpr (kAhead) {
      PrefetchAhead(plane, (k / 8) * w.planes * 16, (w.cols / 8) * w.planes * 16,
                    kAheadBytes / 4, T - 1);
    }
    // lane L of the nibbles finds its bits at bit L (low) and 4 + L (high) of the 16 bytes:
    // rotated to bit a = 4 + p of each byte, kept there, added by OR
    const __m512i bits =
        _mm512_maskz_broadcast_i32x4(0xFFFF, _mm_loadu_si128(Ptr<__m128i>(plane)));
    const int a = 4 + p;  // lane L: bit L -> a, a left rotation by a - L
    const __m512i keep = _mm512_set1_epi8(static_cast<char>(1 << a));
    const int a1 = a - 1, a2 = a - 2, a3 = a - 3;
    const __m512i to_lo =
        _mm512_setr_epi32(a, a, a, a, a1, a1, a1, a1, a2, a2, a2, a2, a3, a3, a3, a3);
    // bit 4 + L -> a: by a - 4 - L, mod 32 (a negative count rotates right)
    const __m512i to_hi = _mm512_sub_epi32(to_lo, _mm512_set1_epi32(4));
    constexpr int kOrAnd = 0xF8;  // a | (b & c)
    *lo = _mm512_ternarylogic_epi32(*lo, _mm512_rolv_epi32(bits, to_lo), keep, kOrAnd);
    *hi = _mm512_ternarylogic_epi32(*hi, _mm512_rolv_epi32(bits, to_hi), keep, kOrAnd);
  }
}

// MR rows x T tiles (from tile t) over all of K: a block's integer sums in registers, then its
// float part added to the float sums (FloatSums).
template <int MR, int T, int kNib, bool kMin, bool kAhead>
SCULPT_VNNI void MicroVnni(const GroupX& x, const PackedMatrix& w, int64_t t, float* y,
                           int64_t ldy) {
  const int64_t K = w.cols, B = w.block, nb = K / B;
  FloatSums<MR, T> acc;
  _Pragma("GCC unroll 32") for (int r = 0; r < MR; ++r)
    _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt) acc.Set(r, tt, _mm512_setzero_ps());
  const __m512i levels = kNib == kLevelNibbles ? _mm512_load_si512(LevelTable(w.offset).bytes)
                                               : _mm512_setzero_si512();
  const int32_t* xq = reinterpret_cast<const int32_t*>(x.q);
  for (int64_t b = 0; b < nb; ++b) {
    __m512i is[MR][T];
    _Pragma("GCC unroll 32") for (int r = 0; r < MR; ++r)
      _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt) is[r][tt] = _mm512_setzero_si512();
    if constexpr (kNib != kBytes) {
      constexpr int64_t kPer = KPerLoad(kNib);  // 8 (nibbles) or 16 (crumbs) k per load
      for (int64_t k = b * B; k < (b + 1) * B; k += kPer) {
        __m512i v[T];
        _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt) {
          const uint8_t* base = WeightsAt<kNib>(w, t + tt, k);
          if constexpr (kAhead) PrefetchWeights(base, k / kPer, K / kPer, T - 1);
          v[tt] = _mm512_loadu_si512(base);
        }
        _Pragma("GCC unroll 2") for (int g = 0; g < kPer / 8; ++g) {  // groups of 8 k
          const int64_t kg = k + 8 * g;
          __m512i lo[T], hi[T];
          _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt) {
            NibblesVnni<kNib, kAhead>(v[tt], g, w, t + tt, kg, T, levels, &lo[tt], &hi[tt]);
          }
          const int32_t* xk = xq + (kg / 4) * MR;
          _Pragma("GCC unroll 32") for (int r = 0; r < MR; ++r) {
            const __m512i xa = _mm512_set1_epi32(xk[r]), xb = _mm512_set1_epi32(xk[MR + r]);
            _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt) {
              is[r][tt] = DpBusd(is[r][tt], lo[tt], xa);
              is[r][tt] = DpBusd(is[r][tt], hi[tt], xb);
            }
          }
        }
      }
    } else {
      for (int64_t k = b * B; k < (b + 1) * B; k += 4) {
        __m512i wv[T];
        _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt) {
          const uint8_t* base = WeightsAt<kBytes>(w, t + tt, k);
          if constexpr (kAhead) PrefetchWeights(base, k / 4, K / 4, T - 1);
          wv[tt] = _mm512_loadu_si512(base);
        }
        const int32_t* xk = xq + (k / 4) * MR;
        _Pragma("GCC unroll 32") for (int r = 0; r < MR; ++r) {
          const __m512i xa = _mm512_set1_epi32(xk[r]);
          _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt) {
            is[r][tt] = DpBusd(is[r][tt], wv[tt], xa);
          }
        }
      }
    }
    __m512 scale[T], mn[T];
    _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt) {
      if constexpr (kAhead) PrefetchScales(w, t + tt, b, T - 1);
      scale[tt] = ScaleVnni(w, t + tt, b, 0);
      mn[tt] = kMin ? ScaleVnni(w, t + tt, b, 1) : _mm512_setzero_ps();
    }
    _Pragma("GCC unroll 32") for (int r = 0; r < MR; ++r) {
      const __m512 dv = _mm512_set1_ps(x.d[b * MR + r]);
      const __m512i off = _mm512_set1_epi32(x.offset_s[b * MR + r]);
      _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt) {
        const __m512 isum = _mm512_cvtepi32_ps(_mm512_sub_epi32(is[r][tt], off));
        __m512 a = _mm512_fmadd_ps(isum, _mm512_mul_ps(dv, scale[tt]), acc.Get(r, tt));
        if constexpr (kMin) {
          a = _mm512_fmadd_ps(_mm512_set1_ps(x.neg_s[b * MR + r]), _mm512_mul_ps(dv, mn[tt]), a);
        }
        acc.Set(r, tt, a);
      }
    }
  }
  _Pragma("GCC unroll 32") for (int tt = 0; tt < T; ++tt) {
    const int64_t cols = ColsOf(w, t + tt);
    const __mmask16 mask = static_cast<__mmask16>((1u << cols) - 1);
    _Pragma("GCC unroll 32") for (int r = 0; r < MR; ++r)
      _mm512_mask_storeu_ps(y + r * ldy + (t + tt) * kTile, mask, acc.Get(r, tt));
  }
}

// One row group over tiles [n0, n1) (ForTileCalls).
template <int MR, int T, int kNib, bool kMin>
SCULPT_VNNI void GroupVnni(const GroupX& x, const PackedMatrix& w, int64_t n0, int64_t n1, float* y,
                           int64_t ldy, bool ahead) {
  ForTileCalls<T>(n0, n1, ahead, [&](int64_t t, auto tiles, auto prefetch) {
    MicroVnni<MR, tiles(), kNib, kMin, prefetch()>(x, w, t, y, ldy);
  });
}

template <int kNib, bool kMin>
SCULPT_VNNI void AllVnni(const QuantizedRows& x, const PackedMatrix& w, int64_t t0, int64_t t1, float* y,
                         int64_t ldy) {
  const int64_t nc = TilesPerBlock(w), K = w.cols, nb = K / w.block, m = x.m;
  thread_local GroupedRows grouped;  // the rows regrouped on the thread that multiplies them
  constexpr int kTop = kTopRows<kNib>;
  RegroupAll<kTop>(x, w.offset, &grouped);
  for (int64_t n0 = t0; n0 < t1; n0 += nc) {
    const int64_t n1 = std::min(t1, n0 + nc);
    ForEachRowGroup<kTop>(m, [&](int64_t i, auto rows) {
      constexpr int kRows = decltype(rows)::value;
      GroupVnni<kRows, VnniTiles<kNib>(kRows), kNib, kMin>(grouped.At(i, K, nb), w, n0, n1,
                                                           y + i * ldy, ldy, i == 0);
    });
  }
}

}  // namespace

void IntTilesVnni(const QuantizedRows& x, const PackedMatrix& w, int64_t t0, int64_t t1, float* y,
                  int64_t ldy) {
  return WithKind(w, [&](auto kind, auto min) {
    AllVnni<decltype(kind)::value, decltype(min)::value>(x, w, t0, t1, y, ldy);
  });
}

bool CpuHasVnni() {
  static const bool has = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl");
  return has;
}

// ---- AVX2 --------------------------------------------------------------------------------------
// Byte weights (MicroAvx2): the signed weights q = u - offset and x's bytes meet in vpmaddubsw as
// |q| (unsigned) times x with q's sign (vpsignb), pairs added into int16 (at most 2 x 128 x 127 =
// 32512: never saturates, since x's bytes lie in -127..127), then vpmaddwd by ones adds the pairs
// into one int32 lane per column. Nibble weights: MicroAvx2Nib. Exact: every product and sum fits
// its integer type, so both give the block sums of the scalar twin. Rows run in evenly high groups
// of up to 4 (bytes: 8 sums, 4 weight vectors, x and ones in 16 registers) or 2 (nibbles, whose
// 3-row groups spill: 0.86-0.93x at M = 3 and 8 on 4096 x 4096). Against bytes widened to int16
// for vpmaddwd in pairs of rows (one thread, the builds in alternate processes, 4096 x 4096 and
// 4096 x 14336): Q8_0 1.23-1.53x at M = 3-64, Q6_K 1.2-1.7x; M = 1 and 2 within noise.
#define SCULPT_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace {

// Half h (8 columns) of ScaleVnni.
SCULPT_AVX2 inline __m256 ScaleAvx2(const PackedMatrix& w, int64_t t, int64_t b, int which,
                                    int h) {
  const uint8_t* sub = SubsOf(w, t, b) + which * w.sub_set() + h * 8 * w.sub_bytes();
  const __m256 subs =
      w.int_subs ? _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(Ptr<__m128i>(sub))))
                 : _mm256_cvtph_ps(_mm_loadu_si128(Ptr<__m128i>(sub)));
  return _mm256_mul_ps(_mm256_loadu_ps(SupersOf(w, t, b) + which * kTile + h * 8), subs);
}

// The float part of block b for rows [i, i + MR) of tile t: sums[r][h] holds the exact integer
// dot products of columns 8h..8h+7 with the stored weights minus `offset` (kernels/int8_matmul.h
// gives the operations): offset 0 when the sums are of q already.
template <int MR, bool kMin>
SCULPT_AVX2 inline void AddBlockAvx2(const QuantizedRows& x, int64_t i, const PackedMatrix& w,
                                     int64_t t, int64_t b, const __m256i sums[MR][2],
                                     int32_t offset, __m256 acc[MR][2]) {
  const int64_t nb = w.cols / w.block;
  __m256 scales[2], mins[2];
  for (int h = 0; h < 2; ++h) {
    scales[h] = ScaleAvx2(w, t, b, 0, h);
    mins[h] = kMin ? ScaleAvx2(w, t, b, 1, h) : _mm256_setzero_ps();
  }
  for (int r = 0; r < MR; ++r) {
    const float d = x.d[static_cast<size_t>((i + r) * nb + b)];
    const int32_t s = x.sum[static_cast<size_t>((i + r) * nb + b)];
    const __m256 dv = _mm256_set1_ps(d);
    for (int h = 0; h < 2; ++h) {
      const __m256i corr = _mm256_sub_epi32(sums[r][h], _mm256_set1_epi32(offset * s));
      acc[r][h] =
          _mm256_fmadd_ps(_mm256_cvtepi32_ps(corr), _mm256_mul_ps(dv, scales[h]), acc[r][h]);
      if constexpr (kMin) {
        acc[r][h] = _mm256_fmadd_ps(_mm256_set1_ps(static_cast<float>(-s)),
                                    _mm256_mul_ps(dv, mins[h]), acc[r][h]);
      }
    }
  }
}

// Rows [0, MR) of tile t into y (only the columns that exist).
template <int MR>
SCULPT_AVX2 inline void StoreTileAvx2(const __m256 acc[MR][2], const PackedMatrix& w, int64_t t,
                                      float* y, int64_t ldy) {
  const int64_t cols = ColsOf(w, t);
  alignas(32) float out[kTile];
  for (int r = 0; r < MR; ++r) {
    _mm256_store_ps(out, acc[r][0]);
    _mm256_store_ps(out + 8, acc[r][1]);
    std::memcpy(y + r * ldy + t * kTile, out, static_cast<size_t>(cols) * sizeof(float));
  }
}

// Tiles per call: single rows advance 4 tiles together, reading 4 streams at once with the
// prefetches of the VNNI kernels. Against one tile per call touching 2 KiB ahead (--simd avx2
// without AVX-VNNI, 14336 x 4096 and 4096 x 4096, the builds in alternate processes): one thread
// Q4_0 1.04-1.2x, Q8_0 1.07-1.16x, Q4_K 0.95-1.0x (16 GB/s either way: this kernel reads 30 GB/s
// from L3, so it is compute bound); two threads 1.07-1.16x.
constexpr int Avx2Tiles(int mr) { return mr == 1 ? 4 : 1; }

// The x bytes of row r at k (4 of them, as one dword for a broadcast).
inline int32_t XQuad(const int8_t* xq, int64_t K, int r, int64_t k) {
  int32_t v;
  std::memcpy(&v, xq + r * K + k, 4);
  return v;
}

template <int MR, int T, bool kMin, bool kAhead>
SCULPT_AVX2 void MicroAvx2(const QuantizedRows& x, int64_t i, const PackedMatrix& w, int64_t t,
                           float* y, int64_t ldy) {
  const int64_t K = w.cols, B = w.block, nb = K / B;
  const int8_t* xq = x.q.data() + i * K;
  __m256 acc[T][MR][2];
  for (int tt = 0; tt < T; ++tt)
    for (int r = 0; r < MR; ++r) acc[tt][r][0] = acc[tt][r][1] = _mm256_setzero_ps();
  const __m256i offset = _mm256_set1_epi8(static_cast<char>(w.offset)), ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    __m256i is[T][MR][2];
    for (int tt = 0; tt < T; ++tt)
      for (int r = 0; r < MR; ++r) is[tt][r][0] = is[tt][r][1] = _mm256_setzero_si256();
    for (int64_t k = b * B; k < (b + 1) * B; k += 4) {
      _Pragma("GCC unroll 4") for (int tt = 0; tt < T; ++tt) {
        const uint8_t* base = WeightsAt<kBytes>(w, t + tt, k);
        if constexpr (kAhead) PrefetchWeights(base, k / 4, K / 4, T - 1);
        __m256i q[2], mag[2];  // columns 0-7 and 8-15: a dword per column, a byte per k
        for (int h = 0; h < 2; ++h) {
          const __m256i u = _mm256_loadu_si256(Ptr<__m256i>(base + h * 32));
          q[h] = _mm256_sub_epi8(u, offset);  // wraps to q exactly: u = q + offset
          mag[h] = _mm256_abs_epi8(q[h]);     // |-128| = 0x80, read as unsigned: 128
        }
        for (int r = 0; r < MR; ++r) {
          const __m256i xa = _mm256_set1_epi32(XQuad(xq, K, r, k));
          for (int h = 0; h < 2; ++h) {
            const __m256i pairs = _mm256_maddubs_epi16(mag[h], _mm256_sign_epi8(xa, q[h]));
            is[tt][r][h] = _mm256_add_epi32(is[tt][r][h], _mm256_madd_epi16(pairs, ones));
          }
        }
      }
    }
    for (int tt = 0; tt < T; ++tt) {
      if constexpr (kAhead) PrefetchScales(w, t + tt, b, T - 1);
      AddBlockAvx2<MR, kMin>(x, i, w, t + tt, b, is[tt], 0, acc[tt]);
    }
  }
  for (int tt = 0; tt < T; ++tt) StoreTileAvx2<MR>(acc[tt], w, t + tt, y, ldy);
}

// The bits at bit c0 (lanes 0) and c1 (lane 1) of each byte of `bits`, moved to bit `to`.
SCULPT_AVX2 inline __m256i MoveBits(__m256i bits, int c0, int c1, int to) {
  const int a0 = to - c0, a1 = to - c1;  // both >= 0 or both <= 0 in every use
  if (a0 >= 0 && a1 >= 0) {
    return _mm256_sllv_epi32(bits, _mm256_setr_epi32(a0, a0, a0, a0, a1, a1, a1, a1));
  }
  return _mm256_srlv_epi32(bits, _mm256_setr_epi32(-a0, -a0, -a0, -a0, -a1, -a1, -a1, -a1));
}

// Adds the bit planes' bits (4, 5) of half h of tile t's group of 8 k from k to its low and high
// nibbles (kKind kNibbles5 / kNibbles6; nothing for the others): the half's lanes are nibble
// lanes 2h and 2h + 1 (PackedMatrix::high).
template <int kKind>
SCULPT_AVX2 inline void AddPlanesAvx2(const PackedMatrix& w, int64_t t, int64_t k, int h,
                                      __m256i* lo, __m256i* hi) {
  for (int p = 0; p < PlaneCount(kKind); ++p) {
    const __m256i bits = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(Ptr<__m128i>(PlanesOf(w, t, k) + p * 16)));
    const int a = 4 + p;
    const __m256i keep = _mm256_set1_epi8(static_cast<char>(1 << a));
    const int c = 2 * h;
    *lo = _mm256_or_si256(*lo, _mm256_and_si256(MoveBits(bits, c, c + 1, a), keep));
    *hi = _mm256_or_si256(*hi, _mm256_and_si256(MoveBits(bits, c + 4, c + 5, a), keep));
  }
}

// The low and high nibbles (k + i and k + 4 + i, i = 0..3) of the 32 bytes at `at`, tile t's
// group of 8 k from k (the half loaded from WeightsAt), for every kind but bytes: nibbles, or the
// crumbs that read as them (a shift by a count in a register: the AVX2 kernels meet crumbs only
// in matrices packed for the AVX-512 VNNI kernel); the IQ4 levels looked up with `levels`, the
// planes' bits added.
template <int kKind>
SCULPT_AVX2 inline void NibblesAvx2(const uint8_t* at, const PackedMatrix& w, int64_t t,
                                    int64_t k, int h, __m256i levels, __m256i* lo, __m256i* hi) {
  const __m256i v = _mm256_loadu_si256(Ptr<__m256i>(at));
  if constexpr (kKind == kCrumbs) {  // crumbs 2g and 2g + 1, g = k / 8 % 2
    const __m256i low2 = _mm256_set1_epi8(0x03);
    const __m256i vg = _mm256_srl_epi16(v, _mm_cvtsi32_si128(static_cast<int>(k & 8) / 2));
    *lo = _mm256_and_si256(vg, low2);
    *hi = _mm256_and_si256(_mm256_srli_epi16(vg, 2), low2);
  } else {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    *lo = _mm256_and_si256(v, low4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
  }
  if constexpr (kKind == kLevelNibbles) {
    *lo = _mm256_shuffle_epi8(levels, *lo);
    *hi = _mm256_shuffle_epi8(levels, *hi);
  }
  AddPlanesAvx2<kKind>(w, t, k, h, lo, hi);
}

// Nibble weights: vpmaddubsw multiplies the unsigned nibbles by x's signed bytes and adds pairs
// into int16 (a column's low and high nibble pairs together: at most 4 x 15 x 127 = 7620, no
// saturation), vpmaddwd by ones adds those pairs into one int32 lane per column. With kLevels
// the nibbles index the IQ4 levels: looked up as signed bytes (-127..113) and multiplied as the
// byte kernel does (|q| times x with q's sign; the low and high pairs widened apart, since
// together they could reach 4 x 127 x 127).
template <int MR, int T, bool kMin, int kKind, bool kAhead>
SCULPT_AVX2 void MicroAvx2Nib(const QuantizedRows& x, int64_t i, const PackedMatrix& w, int64_t t,
                              float* y, int64_t ldy) {
  const int64_t K = w.cols, B = w.block, nb = K / B;
  const int8_t* xq = x.q.data() + i * K;
  __m256 acc[T][MR][2];
  for (int tt = 0; tt < T; ++tt)
    for (int r = 0; r < MR; ++r) acc[tt][r][0] = acc[tt][r][1] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  constexpr bool kLevels = kKind == kLevelNibbles;
  const __m256i levels = kLevels ? _mm256_load_si256(Ptr<__m256i>(LevelTable(0).bytes))
                                 : _mm256_setzero_si256();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i is[T][MR][2];
    for (int tt = 0; tt < T; ++tt)
      for (int r = 0; r < MR; ++r) is[tt][r][0] = is[tt][r][1] = _mm256_setzero_si256();
    for (int64_t k = b * B; k < (b + 1) * B; k += 8) {
      _Pragma("GCC unroll 4") for (int tt = 0; tt < T; ++tt) {
        const uint8_t* base = WeightsAt<kKind>(w, t + tt, k);
        constexpr int64_t kPer = KPerLoad(kKind);
        if (kAhead && (kKind != kCrumbs || k % 16 == 0)) {
          PrefetchWeights(base, k / kPer, K / kPer, T - 1);
        }
        __m256i lo[2], hi[2];  // columns 0-7 and 8-15: a dword per column, a byte per k
        for (int h = 0; h < 2; ++h) {
          NibblesAvx2<kKind>(base + h * 32, w, t + tt, k, h, levels, &lo[h], &hi[h]);
        }
        for (int r = 0; r < MR; ++r) {
          const __m256i xa = _mm256_set1_epi32(XQuad(xq, K, r, k));
          const __m256i xb = _mm256_set1_epi32(XQuad(xq, K, r, k + 4));
          for (int h = 0; h < 2; ++h) {
            __m256i sums;
            if constexpr (kLevels) {
              const __m256i pa =
                  _mm256_maddubs_epi16(_mm256_abs_epi8(lo[h]), _mm256_sign_epi8(xa, lo[h]));
              const __m256i pb =
                  _mm256_maddubs_epi16(_mm256_abs_epi8(hi[h]), _mm256_sign_epi8(xb, hi[h]));
              sums = _mm256_add_epi32(_mm256_madd_epi16(pa, ones), _mm256_madd_epi16(pb, ones));
            } else {
              const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(lo[h], xa),
                                                     _mm256_maddubs_epi16(hi[h], xb));
              sums = _mm256_madd_epi16(pairs, ones);
            }
            is[tt][r][h] = _mm256_add_epi32(is[tt][r][h], sums);
          }
        }
      }
    }
    for (int tt = 0; tt < T; ++tt) {
      if constexpr (kAhead) PrefetchScales(w, t + tt, b, T - 1);
      // the level sums are of q already; the nibble sums of q + offset
      AddBlockAvx2<MR, kMin>(x, i, w, t + tt, b, is[tt], kLevels ? 0 : w.offset, acc[tt]);
    }
  }
  for (int tt = 0; tt < T; ++tt) StoreTileAvx2<MR>(acc[tt], w, t + tt, y, ldy);
}

template <int MR, int T, int kNib, bool kMin, bool kAhead>
SCULPT_AVX2 void TilesAvx2(const QuantizedRows& x, int64_t i, const PackedMatrix& w, int64_t t,
                           float* y, int64_t ldy) {
  if constexpr (kNib != kBytes) {
    MicroAvx2Nib<MR, T, kMin, kNib, kAhead>(x, i, w, t, y, ldy);
  } else {
    MicroAvx2<MR, T, kMin, kAhead>(x, i, w, t, y, ldy);
  }
}

// One row group (rows from i) over tiles [n0, n1) (ForTileCalls; the first group prefetches).
template <int MR, int kNib, bool kMin>
SCULPT_AVX2 void GroupAvx2(const QuantizedRows& x, int64_t i, const PackedMatrix& w, int64_t n0,
                           int64_t n1, float* y, int64_t ldy) {
  ForTileCalls<Avx2Tiles(MR)>(n0, n1, i == 0, [&](int64_t t, auto tiles, auto prefetch) {
    TilesAvx2<MR, tiles(), kNib, kMin, prefetch()>(x, i, w, t, y, ldy);
  });
}

template <int kNib, bool kMin>
SCULPT_AVX2 void AllAvx2(const QuantizedRows& x, const PackedMatrix& w, int64_t t0, int64_t t1, float* y,
                         int64_t ldy) {
  constexpr int kTop = kNib ? 2 : 4;
  const int64_t nc = TilesPerBlock(w);
  for (int64_t n0 = t0; n0 < t1; n0 += nc) {
    const int64_t n1 = std::min(t1, n0 + nc);
    ForEachRowGroup<kTop>(x.m, [&](int64_t i, auto rows) {
      constexpr int kRows = decltype(rows)::value;
      GroupAvx2<kRows, kNib, kMin>(x, i, w, n0, n1, y + i * ldy, ldy);
    });
  }
}

}  // namespace

// ---- AVX2 with AVX-VNNI ------------------------------------------------------------------------
// The VEX form of vpdpbusd on 8-lane vectors (Intel since Alder Lake, AMD since Zen 5): the same
// exact block sums as the AVX2 kernels above in a quarter of the instructions. A tile is two
// vectors (columns 0-7 and 8-15); 16 registers hold 6 rows of byte sums (12) or 4 rows of nibble
// sums (8, with the four half-tiles of nibbles), the float sums wait in L1. Single rows and pairs
// take 4 and 2 tiles per call (AvxVnniTiles).
#define SCULPT_AVXVNNI __attribute__((target("avx2,fma,f16c,avxvnni")))

namespace {

bool g_avx_vnni_allowed = true;

template <int kNib>
constexpr int kAvxVnniRows = kNib ? 4 : 6;

// Tiles per call for a group of mr rows: single rows and pairs advance several tiles together
// (4 / 2: 8 sums, the weight vectors of one tile at a time, the broadcasts), so that a GEMV
// reads several streams at once with the VNNI kernel's prefetches; taller groups one tile. Against
// one tile per call (one thread, --simd avx2, 14336 x 4096 and 4096 x 4096, the builds in
// alternate processes): M = 1 Q4_0 1.25-1.5x, Q8_0 1.25-1.55x, Q4_K 1.27-1.36x (now 21-34 GB/s,
// as the AVX-512 kernel); two threads 1.35-1.5x; M = 2 1.02-1.22x.
constexpr int AvxVnniTiles(int mr) { return mr == 1 ? 4 : mr == 2 ? 2 : 1; }

// Rows [0, MR) of the group x over tiles [t, t + T) and all of K.
template <int MR, int T, int kNib, bool kMin, bool kAhead>
SCULPT_AVXVNNI void MicroAvxVnni(const GroupX& x, const PackedMatrix& w, int64_t t, float* y,
                                 int64_t ldy) {
  const int64_t K = w.cols, B = w.block, nb = K / B;
  alignas(32) float acc[MR][T][kTile] = {};
  const __m256i levels = kNib == kLevelNibbles
                             ? _mm256_load_si256(Ptr<__m256i>(LevelTable(w.offset).bytes))
                             : _mm256_setzero_si256();
  const int32_t* xq = reinterpret_cast<const int32_t*>(x.q);
  for (int64_t b = 0; b < nb; ++b) {
    __m256i is[MR][T][2];
    _Pragma("GCC unroll 16") for (int r = 0; r < MR; ++r) {
      _Pragma("GCC unroll 4") for (int tt = 0; tt < T; ++tt) {
        is[r][tt][0] = is[r][tt][1] = _mm256_setzero_si256();
      }
    }
    if constexpr (kNib != kBytes) {
      for (int64_t k = b * B; k < (b + 1) * B; k += 8) {
        const int32_t* xk = xq + (k / 4) * MR;
        _Pragma("GCC unroll 4") for (int tt = 0; tt < T; ++tt) {
          const uint8_t* base = WeightsAt<kNib>(w, t + tt, k);
          constexpr int64_t kPer = KPerLoad(kNib);
          if (kAhead && (kNib != kCrumbs || k % 16 == 0)) {
            PrefetchWeights(base, k / kPer, K / kPer, T - 1);
          }
          __m256i lo[2], hi[2];
          _Pragma("GCC unroll 2") for (int h = 0; h < 2; ++h) {
            NibblesAvx2<kNib>(base + h * 32, w, t + tt, k, h, levels, &lo[h], &hi[h]);
          }
          _Pragma("GCC unroll 16") for (int r = 0; r < MR; ++r) {
            const __m256i xa = _mm256_set1_epi32(xk[r]), xb = _mm256_set1_epi32(xk[MR + r]);
            _Pragma("GCC unroll 2") for (int h = 0; h < 2; ++h) {
              is[r][tt][h] = _mm256_dpbusd_avx_epi32(is[r][tt][h], lo[h], xa);
              is[r][tt][h] = _mm256_dpbusd_avx_epi32(is[r][tt][h], hi[h], xb);
            }
          }
        }
      }
    } else {
      for (int64_t k = b * B; k < (b + 1) * B; k += 4) {
        const int32_t* xk = xq + (k / 4) * MR;
        _Pragma("GCC unroll 4") for (int tt = 0; tt < T; ++tt) {
          const uint8_t* base = WeightsAt<kBytes>(w, t + tt, k);
          if constexpr (kAhead) PrefetchWeights(base, k / 4, K / 4, T - 1);
          const __m256i w0 = _mm256_loadu_si256(Ptr<__m256i>(base));
          const __m256i w1 = _mm256_loadu_si256(Ptr<__m256i>(base + 32));
          _Pragma("GCC unroll 16") for (int r = 0; r < MR; ++r) {
            const __m256i xa = _mm256_set1_epi32(xk[r]);
            is[r][tt][0] = _mm256_dpbusd_avx_epi32(is[r][tt][0], w0, xa);
            is[r][tt][1] = _mm256_dpbusd_avx_epi32(is[r][tt][1], w1, xa);
          }
        }
      }
    }
    _Pragma("GCC unroll 4") for (int tt = 0; tt < T; ++tt) {
      if constexpr (kAhead) PrefetchScales(w, t + tt, b, T - 1);
      __m256 scales[2], mins[2];
      _Pragma("GCC unroll 2") for (int h = 0; h < 2; ++h) {
        scales[h] = ScaleAvx2(w, t + tt, b, 0, h);
        mins[h] = kMin ? ScaleAvx2(w, t + tt, b, 1, h) : _mm256_setzero_ps();
      }
      _Pragma("GCC unroll 16") for (int r = 0; r < MR; ++r) {
        const __m256 dv = _mm256_set1_ps(x.d[b * MR + r]);
        const __m256i off = _mm256_set1_epi32(x.offset_s[b * MR + r]);
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; ++h) {
          const __m256 isum = _mm256_cvtepi32_ps(_mm256_sub_epi32(is[r][tt][h], off));
          float* at = acc[r][tt] + h * 8;
          __m256 a = _mm256_fmadd_ps(isum, _mm256_mul_ps(dv, scales[h]), _mm256_load_ps(at));
          if constexpr (kMin) {
            a = _mm256_fmadd_ps(_mm256_set1_ps(x.neg_s[b * MR + r]), _mm256_mul_ps(dv, mins[h]),
                                a);
          }
          _mm256_store_ps(at, a);
        }
      }
    }
  }
  _Pragma("GCC unroll 4") for (int tt = 0; tt < T; ++tt) {
    const int64_t cols = ColsOf(w, t + tt);
    for (int r = 0; r < MR; ++r) {
      std::memcpy(y + r * ldy + (t + tt) * kTile, acc[r][tt],
                  static_cast<size_t>(cols) * sizeof(float));
    }
  }
}

// One row group over tiles [n0, n1) (ForTileCalls).
template <int MR, int T, int kNib, bool kMin>
SCULPT_AVXVNNI void GroupAvxVnni(const GroupX& x, const PackedMatrix& w, int64_t n0, int64_t n1,
                                 float* y, int64_t ldy, bool ahead) {
  ForTileCalls<T>(n0, n1, ahead, [&](int64_t t, auto tiles, auto prefetch) {
    MicroAvxVnni<MR, tiles(), kNib, kMin, prefetch()>(x, w, t, y, ldy);
  });
}

template <int kNib, bool kMin>
SCULPT_AVXVNNI void AllAvxVnni(const QuantizedRows& x, const PackedMatrix& w, int64_t t0, int64_t t1,
                               float* y, int64_t ldy) {
  constexpr int kTop = kAvxVnniRows<kNib>;
  const int64_t nc = TilesPerBlock(w), K = w.cols, nb = K / w.block, m = x.m;
  // Rows in evenly high groups (as AllVnni): against tallest-first over 6/4/2/1 (4/2/1), one
  // thread, --simd avx2, 4096 x 14336, alternate processes: Q8_0 M = 3 1.75x, 5 1.42x, 7-20
  // 1.18-1.28x; Q4_0 M = 3 1.31x, 7-11 1.12-1.14x (same splits 0.86-1.15x run to run).
  thread_local GroupedRows grouped;
  RegroupAll<kTop>(x, w.offset, &grouped);
  for (int64_t n0 = t0; n0 < t1; n0 += nc) {
    const int64_t n1 = std::min(t1, n0 + nc);
    ForEachRowGroup<kTop>(m, [&](int64_t i, auto rows) {
      constexpr int kRows = decltype(rows)::value;
      GroupAvxVnni<kRows, AvxVnniTiles(kRows), kNib, kMin>(grouped.At(i, K, nb), w, n0, n1,
                                                           y + i * ldy, ldy, i == 0);
    });
  }
}

}  // namespace

bool CpuHasAvxVnni() {
  static const bool has = __builtin_cpu_supports("avxvnni") && __builtin_cpu_supports("avx2") &&
                          __builtin_cpu_supports("fma");
  return has;
}

void AllowAvxVnni(bool allowed) { g_avx_vnni_allowed = allowed; }

void IntTilesAvx2(const QuantizedRows& x, const PackedMatrix& w, int64_t t0, int64_t t1, float* y,
                  int64_t ldy) {
  if (g_avx_vnni_allowed && CpuHasAvxVnni()) {
    return WithKind(w, [&](auto kind, auto min) {
      AllAvxVnni<decltype(kind)::value, decltype(min)::value>(x, w, t0, t1, y, ldy);
    });
  }
  return WithKind(w, [&](auto kind, auto min) {
    AllAvx2<decltype(kind)::value, decltype(min)::value>(x, w, t0, t1, y, ldy);
  });
}

}  // namespace sculpt::kernels
