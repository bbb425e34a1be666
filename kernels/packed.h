// Weight matrices packed once at load into panels of kTile output features.
//
// Layout, per tile t of kTile rows (the last tile zero-padded):
//   kF32 / kF16 / kBF16:  values [K][kTile]                (w[t*kTile + j, k] at [k][j])
//   kI8:                  q      [K][kTile] int8, and per block of `block` k values a scale
//                         (and a min when has_min) in two levels, ScaleOf / MinOf
//   kI4:                  q      [K][kTile/2] bytes: byte j holds row j (low nibble) and row
//                         j + kTile/2 (high nibble), q in 0..15, w = scale * (q - offset) (- min);
//                         scales as kI8
//   kU8Quads:             u      [K/4][kTile][4] bytes, u = q + offset (Q8_0 +128, IQ4 +127,
//                         Q6_K +32, Q5_0 +16, Q5_1 / Q5_K 0), for the int8-activation kernels
//                         (kernels/int8_matmul.h); scales as kI8
//   kU4Quads:             u      [K/8][kTile][4] bytes: byte (j, i) holds k + i (low nibble) and
//                         k + 4 + i (high nibble) of row j, u = q + offset (Q4_0 +8, Q3_K +4,
//                         Q2_K, Q4_1 and Q4_K +0); with `levels` (IQ4_NL, IQ4_XS) the nibbles
//                         are indices of the IQ4 levels, u = level + 127 once looked up
//   kU2Quads:             u      [K/16][kTile][4] bytes: bits 2c and 2c + 1 of byte (j, i) hold
//                         u at k + 4c + i of row j (c = 0..3), u = q (Q2_K): a group of 8 k
//                         from k + 8g reads as kU4Quads once crumbs 2g and 2g + 1 are shifted
//                         down
// A quantized weight is w = scale * q (- min): exactly the float operations of ggml's
// dequantize_row_* for Q8_0, Q4_0 (q - 8 stored), Q5_0 (q - 16 stored), Q4_1 and Q5_1 (scale = d,
// min = -m: d q - (-m) rounds as d q + m), Q2_K, Q4_K and Q5_K (scale = d*sc, min = dmin*m),
// Q3_K (q in -4..3, scale = d*(sc-32)), Q6_K (q - 32 stored, scale = d*sc), IQ4_NL (q the level,
// scale = d) and IQ4_XS (q the level, scale = d*(ls-32)), so packed values
// equal Dequantize() bit for bit. The types of at most 4 bits
// use kI4 (offset -least q: Q4_0 8, Q3_K 4, the others 0): half the bytes, the same arithmetic;
// the 5-, 6- and 8-bit ones and the IQ4 levels kI8. The int8 backend's formats
// (kU8Quads, kU4Quads, kU2Quads) keep the IQ4 types and the 5-bit ones (Q6_K where the AVX-512
// VNNI kernel runs) as nibbles too: level indices, or bits 0-3 with bit planes for 4 and 5
// (`planes`); and Q2_K as 2-bit crumbs where the AVX-512 VNNI kernel runs.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/aligned.h"
#include "base/status.h"
#include "kernels/kernels.h"
#include "kernels/matmul_tile.h"
#include "kernels/quant.h"

namespace sculpt::kernels {

enum class PanelFormat { kF32, kF16, kBF16, kI8, kI4, kU8Quads, kU4Quads, kU2Quads };

struct PackedMatrix {
  GgmlType source = GgmlType::kF32;
  PanelFormat format = PanelFormat::kF32;
  int64_t rows = 0, cols = 0;
  int64_t block = 0;     // quantized: k values per scale
  bool has_min = false;  // quantized: w = scale * q - min
  int32_t offset = 0;    // kI4 and the quads: stored value minus offset = q
  // kU4Quads of the IQ4 types: each nibble is an index i into kIq4Levels (kernels/quant.h); the
  // kernels look it up as the byte u = kIq4Levels[i] + offset (offset 127) and go on as for bytes.
  bool levels = false;
  // kU4Quads of the 5- and 6-bit types: the nibbles hold bits 0-3 of u, and `planes` (1 or 2) bit
  // planes in `high` bits 4 and 5 (PlanesOf).
  int planes = 0;
  // Quantized: block b's scale is supers[b >> super_shift] * subs[b] (and its min likewise), the
  // one float product ggml forms (BlockScales, kernels/quant.h): K types 16 or 8 blocks per
  // 256-value super-block; the legacy types one super of 1 per column (super_shift 62).
  int super_shift = 0;
  // Quantized: the subs are int8 (K types, whose sub-scales are 4- to 8-bit integers: exact, in
  // half the bytes) or half-precision bits (the legacy types' own d and m).
  bool int_subs = false;
  int64_t n_tiles = 0;
  AlignedBuffer<uint8_t> values;  // [n_tiles][K][kTile] elements of the format
  // with mins, each block's (super-block's) kTile mins follow its kTile scales: one stream each
  AlignedBuffer<uint8_t> subs;    // [n_tiles][K/block][1 or 2][kTile] int8 or half precision
  AlignedBuffer<float> supers;    // [n_tiles][n_supers][1 or 2][kTile]
  // [n_tiles][K/8][planes][16] bytes: for each group of 8 k (64 nibble bytes, n = 4 j + i for
  // column j, k + i) and plane p (bit 4 + p of u), bit c of byte b is the bit of nibble byte
  // b + 16 (c % 4), its low nibble for c < 4, its high one for c >= 4: a 16-byte lane of nibbles
  // finds its bits in one bit position of the 16 bytes, which a shift moves into place
  AlignedBuffer<uint8_t> high;
  std::vector<float> dense;       // [rows, cols] row-major f32, only with the BLAS backend
  size_t bytes() const;
  int64_t n_blocks() const { return cols / block; }
  int64_t n_supers() const { return ((n_blocks() - 1) >> super_shift) + 1; }
  int64_t scale_sets() const { return has_min ? 2 : 1; }  // scales, and mins when has_min
  int64_t sub_bytes() const { return int_subs ? 1 : 2; }
  int64_t sub_set() const { return kTile * sub_bytes(); }  // bytes of a block's kTile subs
  // Where tile t, block b's kTile sub-scales start in subs (bytes; the sub-mins follow at
  // + sub_set()), and its super-scales in supers (the dmins follow at + kTile).
  int64_t sub_at(int64_t t, int64_t b) const {
    return (t * n_blocks() + b) * scale_sets() * sub_set();
  }
  int64_t super_at(int64_t t, int64_t b) const {
    return (t * n_supers() + (b >> super_shift)) * scale_sets() * kTile;
  }
};

// Bytes of the kTile weights of one k in format f.
constexpr int64_t BytesPerK(PanelFormat f) {
  switch (f) {
    case PanelFormat::kF32: return 4 * kTile;
    case PanelFormat::kF16: case PanelFormat::kBF16: return 2 * kTile;
    case PanelFormat::kI8: case PanelFormat::kU8Quads: return kTile;
    case PanelFormat::kI4: case PanelFormat::kU4Quads: return kTile / 2;
    case PanelFormat::kU2Quads: return kTile / 4;
  }
  return 4 * kTile;
}

// The bit planes of tile t's group of 8 k from k (a multiple of 8): planes x 16 bytes.
inline const uint8_t* PlanesOf(const PackedMatrix& w, int64_t t, int64_t k) {
  return w.high.data() + (t * (w.cols / 8) + k / 8) * w.planes * 16;
}

// The sub-scales of tile t, block b ([kTile] int8 or half-precision values, PackedMatrix::
// int_subs; the sub-mins follow at + sub_set()) and their super-scales ([kTile] floats;
// the dmins at + kTile).
inline const uint8_t* SubsOf(const PackedMatrix& w, int64_t t, int64_t b) {
  return w.subs.data() + w.sub_at(t, b);
}
inline const float* SupersOf(const PackedMatrix& w, int64_t t, int64_t b) {
  return w.supers.data() + w.super_at(t, b);
}
// Sub-scale j of the kTile at `subs` (an int8 converts to float exactly, as a half does).
inline float SubValue(const PackedMatrix& w, const uint8_t* subs, int64_t j) {
  if (w.int_subs) return static_cast<float>(static_cast<int8_t>(subs[j]));
  uint16_t h;
  std::memcpy(&h, subs + 2 * j, 2);
  return HalfToFloat(h);
}
// Column j's scale and min in block b of tile t, for the scalar kernels (the SIMD ones form
// kTile of them at once, with the same multiplication).
inline float ScaleOf(const PackedMatrix& w, int64_t t, int64_t b, int64_t j) {
  return SupersOf(w, t, b)[j] * SubValue(w, SubsOf(w, t, b), j);
}
inline float MinOf(const PackedMatrix& w, int64_t t, int64_t b, int64_t j) {
  return SupersOf(w, t, b)[kTile + j] * SubValue(w, SubsOf(w, t, b) + w.sub_set(), j);
}

// Matrix-product backend, for models packed afterwards. Both packed backends follow the
// determinism contract of kernels.h.
//   kInt8 (default): quantized weights (every type) multiply int8-quantized
//     activations (kernels/int8_matmul.h), as llama.cpp does; F32/F16/BF16 weights as kFloat.
//   kFloat: quantized weights are expanded to float in registers and multiply float activations:
//     the MatMul contract exactly (within 1e-4 of the float64 reference), about half the speed.
//   kBlas: OpenBLAS sgemm on dense f32 copies of the weights, for comparisons only: its results
//     depend on the batch size and thread count, and it needs 4 bytes per weight.
enum class Backend { kInt8, kFloat, kBlas };
Status SetBackend(std::string_view name);  // "int8" (or "deterministic"), "float" or "blas"
Backend CurrentBackend();

// Columns of tile t that exist (only the last tile can be short).
inline int64_t ColsOf(const PackedMatrix& w, int64_t t) {
  return w.rows - t * kTile < kTile ? w.rows - t * kTile : kTile;
}

// Packs `w` (any type Dequantize supports); threads over tiles. With the BLAS backend it also keeps
// a dense f32 copy.
PackedMatrix Pack(const WeightMatrix& w);

// y[m, rows] = x[m, cols] · w^T with the contract of MatMul (one fma chain per element over k).
void MatMulPacked(const float* x, int64_t m, const PackedMatrix& w, float* y);

// Per-target kernels over tiles [tile, tile + n_tiles): y is the whole [m, ldy] output.
void PackedTilesScalar(const float* x, int64_t m, const PackedMatrix& w, int64_t tile,
                       int64_t n_tiles, float* y, int64_t ldy);
void PackedTilesSimd(const float* x, int64_t m, const PackedMatrix& w, int64_t tile,
                     int64_t n_tiles, float* y, int64_t ldy);

}  // namespace sculpt::kernels
