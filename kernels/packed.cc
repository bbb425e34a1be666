#include "kernels/packed.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/check.h"
#include "kernels/blas.h"
#include "kernels/int8_matmul.h"
#include "kernels/parallel.h"
#include "kernels/simd.h"

namespace sculpt::kernels {

namespace {

bool Quantized(PanelFormat f) {
  return f != PanelFormat::kF32 && f != PanelFormat::kF16 && f != PanelFormat::kBF16;
}

// Row j of tile t's panel from u, the row's K stored values (v + offset, one byte each): one
// instance per panel format, so the quads take a 4-byte store per 4 (bytes) or 8 (nibbles) values.
template <PanelFormat F>
void StoreRow(const uint8_t* u, int64_t K, uint8_t* base, int64_t j) {
  if constexpr (F == PanelFormat::kU8Quads) {  // [K/4][kTile][4]
    for (int64_t k4 = 0; k4 < K / 4; ++k4) std::memcpy(base + (k4 * kTile + j) * 4, u + 4 * k4, 4);
  } else if constexpr (F == PanelFormat::kU4Quads) {  // [K/8][kTile][4], k + 4 in the high half
    for (int64_t k8 = 0; k8 < K / 8; ++k8) {
      const uint8_t* s = u + 8 * k8;
      uint8_t quad[4];
      for (int b = 0; b < 4; ++b) quad[b] = static_cast<uint8_t>((s[b] & 0xF) | (s[b + 4] << 4));
      std::memcpy(base + (k8 * kTile + j) * 4, quad, 4);
    }
  } else if constexpr (F == PanelFormat::kU2Quads) {  // [K/16][kTile][4], k + 4c at bits 2c
    for (int64_t k16 = 0; k16 < K / 16; ++k16) {
      const uint8_t* s = u + 16 * k16;
      uint8_t quad[4] = {};
      for (int b = 0; b < 4; ++b) {
        for (int c = 0; c < 4; ++c) {
          quad[b] = static_cast<uint8_t>(quad[b] | (s[b + 4 * c] & 3) << 2 * c);
        }
      }
      std::memcpy(base + (k16 * kTile + j) * 4, quad, 4);
    }
  } else if constexpr (F == PanelFormat::kI8) {  // [K][kTile]
    for (int64_t k = 0; k < K; ++k) base[k * kTile + j] = u[k];
  } else {  // kI4: [K][kTile / 2], rows 0-7 in the low halves, 8-15 in the high ones
    static_assert(F == PanelFormat::kI4);
    const int shift = j < kTile / 2 ? 0 : 4;
    const auto keep = static_cast<uint8_t>(0xF0 >> shift);
    for (int64_t k = 0; k < K; ++k) {
      uint8_t& byte = base[k * (kTile / 2) + j % (kTile / 2)];
      byte = static_cast<uint8_t>((byte & keep) | (u[k] << shift));
    }
  }
}

// Bits 4 and up of row j's stored values u (tile t) into the bit planes (PackedMatrix::high):
// value k8 * 8 + i is nibble byte n = 4 j + i % 4 of its group, low nibble for i < 4.
void StorePlanes(const uint8_t* u, PackedMatrix& p, int64_t t, int64_t j) {
  for (int64_t k8 = 0; k8 < p.cols / 8; ++k8) {
    uint8_t* group = p.high.data() + (t * (p.cols / 8) + k8) * p.planes * 16;
    for (int i = 0; i < 8; ++i) {
      const int64_t n = j * 4 + i % 4;
      const int c = static_cast<int>(n / 16) + (i < 4 ? 0 : 4);
      for (int b = 0; b < p.planes; ++b) {
        uint8_t& byte = group[b * 16 + n % 16];
        const int bit = (u[k8 * 8 + i] >> (4 + b)) & 1;
        byte = static_cast<uint8_t>((byte & ~(1 << c)) | (bit << c));
      }
    }
  }
}

// Fills the int8 panel of one row r (column j of tile t): q values and their scales/mins. The
// values are decoded into a row of bytes in k order first (StoreRow then places them): storing
// each value in place (a switch on the format and a byte or nibble read-modify-write per value)
// took 1.8-7.5x as long (4096 x 14336, one thread; Q8_0 least, Q4_K most).
void PackQuantRow(const WeightMatrix& w, int64_t r, PackedMatrix& p, int64_t t, int64_t j) {
  uint8_t* base = p.values.data() + static_cast<size_t>(t * p.cols * BytesPerK(p.format));
  const int64_t nb = p.n_blocks();
  // blocks per ggml block (its BlockScales)
  const int64_t per = TraitsOf(static_cast<uint32_t>(w.type))->block_size / p.block;
  thread_local std::vector<int8_t> q;
  thread_local std::vector<BlockScales> scales;
  q.resize(static_cast<size_t>(p.cols));
  scales.resize(static_cast<size_t>(nb / per));
  DecodeBlocks(w.type, w.data + r * w.row_bytes, p.cols, q.data(), scales.data());
  for (int64_t b = 0; b < nb; ++b) {
    const BlockScales& bs = scales[static_cast<size_t>(b / per)];
    uint8_t* sub = p.subs.data() + p.sub_at(t, b) + j * p.sub_bytes();
    float* super = p.supers.data() + p.super_at(t, b) + j;
    // K types: the half holds a 4- to 8-bit integer, which int8 holds exactly
    const auto store = [&](uint8_t* at, uint16_t half) {
      if (p.int_subs) *at = static_cast<uint8_t>(static_cast<int8_t>(HalfToFloat(half)));
      else std::memcpy(at, &half, 2);
    };
    store(sub, bs.sub[b % per]);
    // every block of a super-block carries the same d and dmin (legacy types: 1)
    super[0] = bs.d;
    if (p.has_min) {
      store(sub + p.sub_set(), bs.sub_min[b % per]);
      super[kTile] = bs.dmin;
    }
  }
  // The stored bytes u = q + offset (int8: q itself; int4 and the quads: q made unsigned), or
  // with `levels` the index of the level q.
  thread_local std::vector<uint8_t> row;
  row.resize(static_cast<size_t>(p.cols));
  uint8_t* u = row.data();
  if (p.levels) {
    static const auto index = [] {
      std::array<uint8_t, 256> at{};
      for (uint8_t i = 0; i < 16; ++i) at[static_cast<uint8_t>(kIq4Levels[i])] = i;
      return at;
    }();
    for (size_t k = 0; k < row.size(); ++k) u[k] = index[static_cast<uint8_t>(q[k])];
  } else {
    for (size_t k = 0; k < row.size(); ++k) u[k] = static_cast<uint8_t>(q[k] + p.offset);
  }
  if (p.planes > 0) StorePlanes(u, p, t, j);
  switch (p.format) {
    case PanelFormat::kU8Quads: return StoreRow<PanelFormat::kU8Quads>(u, p.cols, base, j);
    case PanelFormat::kU4Quads: return StoreRow<PanelFormat::kU4Quads>(u, p.cols, base, j);
    case PanelFormat::kU2Quads: return StoreRow<PanelFormat::kU2Quads>(u, p.cols, base, j);
    case PanelFormat::kI8: return StoreRow<PanelFormat::kI8>(u, p.cols, base, j);
    default: return StoreRow<PanelFormat::kI4>(u, p.cols, base, j);
  }
}

// Tile t of a float format (values of sizeof(T) bytes, copied as they are): k outer and the
// tile's rows inner, so the panel is written in order while the rows are read as kTile sequential
// streams. (Row by row, each k of a row landed on its own cache line; that order with a zeroing
// pass first took 1.8x as long on a 4096 x 14336 F32 matrix.) A full tile's constant row count
// lets the copy unroll.
template <typename T>
void PackFloatTile(const WeightMatrix& w, int64_t t, T* dst) {
  const int64_t rows = std::min<int64_t>(kTile, w.rows - t * kTile);
  const uint8_t* src[kTile];
  for (int64_t j = 0; j < rows; ++j) src[j] = w.data + (t * kTile + j) * w.row_bytes;
  if (rows == kTile) {
    for (int64_t k = 0; k < w.cols; ++k, dst += kTile)
      for (int64_t j = 0; j < kTile; ++j) std::memcpy(dst + j, src[j] + k * sizeof(T), sizeof(T));
  } else {  // the last tile: its padding columns stay 0
    for (int64_t k = 0; k < w.cols; ++k, dst += kTile)
      for (int64_t j = 0; j < rows; ++j) std::memcpy(dst + j, src[j] + k * sizeof(T), sizeof(T));
  }
}

}  // namespace

size_t PackedMatrix::bytes() const {
  if (!Quantized(format)) return static_cast<size_t>(n_tiles * cols * BytesPerK(format));
  const auto per_tile = static_cast<size_t>(kTile * scale_sets());
  const size_t scale_bytes = static_cast<size_t>(n_blocks() * sub_bytes()) +
                             static_cast<size_t>(n_supers()) * sizeof(float);
  return static_cast<size_t>(n_tiles) *
         (static_cast<size_t>(cols * BytesPerK(format)) + per_tile * scale_bytes +
          static_cast<size_t>(cols / 8 * planes * 16));
}

namespace {
Backend g_backend = Backend::kInt8;
}  // namespace

Status SetBackend(std::string_view name) {
  if (name == "int8" || name == "deterministic") {
    g_backend = Backend::kInt8;
  } else if (name == "float") {
    g_backend = Backend::kFloat;
  } else if (name == "blas") {
    if (Status s = LoadBlas(); !s.ok()) return s;
    g_backend = Backend::kBlas;
  } else {
    return InvalidArgument("unknown kernels '{}' (int8, float, blas)", Printable(name));
  }
  return Status::Ok();
}

Backend CurrentBackend() { return g_backend; }

namespace {
// Whether MatMulPacked runs the AVX-512 VNNI kernel for int8 products on this CPU and target.
bool UsesVnni() { return CurrentSimdTarget() == SimdTarget::kAvx512 && CpuHasVnni(); }
}  // namespace

PackedMatrix Pack(const WeightMatrix& w) {
  PackedMatrix p;
  p.source = w.type;
  p.rows = w.rows;
  p.cols = w.cols;
  p.n_tiles = (w.rows + kTile - 1) / kTile;
  switch (w.type) {
    case GgmlType::kF32: p.format = PanelFormat::kF32; break;
    case GgmlType::kF16: p.format = PanelFormat::kF16; break;
    case GgmlType::kBF16: p.format = PanelFormat::kBF16; break;
    default: {
      const auto form = BlockFormOf(w.type);
      SCULPT_CHECK(form.has_value() && "Pack: unsupported type");
      // types of at most 4 bits as nibbles (Q2_K and Q3_K too: as bytes they took 12 and 10 bits
      // a weight with their scales, now 8 and 6, and M = 1 products ran 1.35-1.6x slower)
      p.format = form->bits <= 4 ? PanelFormat::kI4 : PanelFormat::kI8;
      p.block = form->block;
      p.has_min = form->has_min;
      p.offset = p.format == PanelFormat::kI4 ? -form->least : 0;  // nibbles: q unsigned
      // a super-scale per ggml block for the K types, one per column for the legacy ones
      const int64_t ggml_block = TraitsOf(static_cast<uint32_t>(w.type))->block_size;
      const auto per = static_cast<uint64_t>(ggml_block / form->block);
      p.super_shift = per > 1 ? std::countr_zero(per) : 62;
      p.int_subs = per > 1;
      if (g_backend == Backend::kInt8) {  // u = q - least, unsigned, for the int8 kernels
        p.format = p.format == PanelFormat::kI8 ? PanelFormat::kU8Quads : PanelFormat::kU4Quads;
        p.offset = -form->least;
        // the IQ4 types as nibbles of level indices, looked up by the kernels: 4.5 / 4.4 bits a
        // weight in memory instead of 8.5 / 8.4 (--kernels float keeps the levels as bytes)
        if (w.type == GgmlType::kIQ4_NL || w.type == GgmlType::kIQ4_XS) {
          p.format = PanelFormat::kU4Quads;
          p.levels = true;
        } else if (form->bits == 5 || (form->bits == 6 && UsesVnni())) {
          // the 5- and 6-bit types as nibbles and bit planes: Q5_0 5.5 bits a weight in memory,
          // Q5_1 6, Q5_K 5.75, Q6_K 6.6 (as bytes 8.5, 9, 8.75, 8.6). Against bytes (14336 x
          // 4096, one thread, one binary, the formats in alternate processes): AVX-512 VNNI M = 1
          // Q5_K 1.45-1.75x, Q6_K 1.45-1.6x, M = 64 0.96-1.0x and 0.89-1.07x; AVX2 with
          // AVX-VNNI M = 1 Q5_K 1.0-1.14x, Q6_K 0.73-0.87x, plain AVX2 0.96-1.06x and 0.72x,
          // M = 64 0.9x and 0.7x. So Q6_K (two planes) keeps bytes unless the AVX-512 VNNI kernel
          // runs.
          p.format = PanelFormat::kU4Quads;
          p.planes = form->bits - 4;
        } else if (form->bits == 2 && UsesVnni()) {
          // Q2_K as 2-bit crumbs: 3.25 bits a weight in memory instead of 5.25 as nibbles.
          // Against nibbles (one binary, the formats in alternate processes, one thread,
          // AVX-512 VNNI): 14336 x 4096 M = 1 1.0-1.5x, M = 8 1.0-1.25x, M = 64 0.92-1.1x;
          // 4096 x 4096 M = 1 1.05-1.2x, 8 1.08x, 64 1.0x. The AVX2 kernels read crumbs slower
          // than nibbles (M = 1 0.75-0.96x), and Q3_K as crumbs and a bit plane (3.625 bits
          // instead of 4.625) ran M = 64 at 0.8x: both keep nibbles.
          p.format = PanelFormat::kU2Quads;
        }
      }
    }
  }
  // The loop below writes every value and scale of every column that exists (a nibble shares its
  // byte only with a column of the same tile). Only the last tile, whose columns past `rows` are
  // padding, is zeroed first (zeroing all of it was a pass over the whole matrix for nothing).
  const auto tile_bytes = static_cast<size_t>(p.cols * BytesPerK(p.format));
  const auto last = static_cast<size_t>(std::max<int64_t>(p.n_tiles - 1, 0));
  p.values.Reserve(tile_bytes * static_cast<size_t>(p.n_tiles));
  if (p.n_tiles > 0) std::memset(p.values.data() + tile_bytes * last, 0, tile_bytes);
  if (Quantized(p.format)) {
    const auto sub_tile = static_cast<size_t>(p.sub_at(1, 0));  // bytes of one tile's subs
    const auto super_tile = static_cast<size_t>(p.n_supers() * kTile * p.scale_sets());
    p.subs.Reserve(sub_tile * static_cast<size_t>(p.n_tiles));
    p.supers.Reserve(super_tile * static_cast<size_t>(p.n_tiles));
    if (p.planes > 0) {  // every bit is written for the rows that exist; padding rows are 0
      const auto high_tile = static_cast<size_t>(p.cols / 8 * p.planes * 16);
      p.high.Reserve(high_tile * static_cast<size_t>(p.n_tiles));
      if (p.n_tiles > 0) std::memset(p.high.data() + high_tile * last, 0, high_tile);
    }
    if (p.n_tiles > 0) {
      std::memset(p.subs.data() + sub_tile * last, 0, sub_tile);
      std::memset(p.supers.data() + super_tile * last, 0, super_tile * sizeof(float));
    }
  }
  if (g_backend == Backend::kBlas) {
    p.dense.resize(static_cast<size_t>(p.rows * p.cols));
    for (int64_t r = 0; r < p.rows; ++r) Dequantize(w.type, w.data + r * w.row_bytes, p.cols, p.dense.data() + r * p.cols);
  }
  ParallelChunks(p.n_tiles, 1, static_cast<double>(p.cols) * kTile * 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      switch (p.format) {
        case PanelFormat::kF32:
          PackFloatTile<uint32_t>(w, t,
                                  reinterpret_cast<uint32_t*>(p.values.data()) + t * p.cols * kTile);
          break;
        case PanelFormat::kF16:
        case PanelFormat::kBF16:
          PackFloatTile<uint16_t>(w, t,
                                  reinterpret_cast<uint16_t*>(p.values.data()) + t * p.cols * kTile);
          break;
        default:
          for (int64_t j = 0; j < kTile && t * kTile + j < p.rows; ++j)
            PackQuantRow(w, t * kTile + j, p, t, j);
          break;
      }
    }
  });
  return p;
}

namespace {

// Threads split the tiles by default: each streams its share of the weights, but reads all of x
// (the float kernel interleaves it, kernels/packed_tile.cc; the int8 kernel reads x quantized by
// one thread, so the other pulls it from that core's cache). Splitting the rows instead makes
// every thread read all the weights and only its own rows of x. That is the cheaper copy when
//  - the weights per k are under twice x's bytes per k (small matrices at large m: 1.05-1.1x on
//    the tiny shapes at M >= 256, two threads, float), or
//  - the whole matrix is small (at most the L2's size, 1 MiB here: it comes from L2 or L3) and
//    each thread has at least 4 (int8) or 8 (float) rows to amortize the second read; each thread
//    then also quantizes its own rows. Tiny shapes, two threads: int8 1.3-1.6x -> 1.8-2.2x the
//    float path at M = 32-256; float 1.04-1.07x at M = 32-64.
bool SplitRows(const PackedMatrix& w, int64_t m, bool int8) {
  if (Threads() < 2) return false;
  if (static_cast<double>(w.n_tiles) * BytesPerK(w.format) <= 8.0 * m) return true;
  return static_cast<int64_t>(w.bytes()) <= L2CacheBytes() && m >= (int8 ? 4 : 8) * Threads();
}

// Tiles per chunk when threads split the tiles: one contiguous, even-sized range per thread (so
// register tiles pair up), or all tiles in one call when the product is too small to fork (two
// calls on one thread cost 5-10 % of a tiny GEMV). Every output is one chain whichever thread
// computes it.
int64_t TileChunk(const PackedMatrix& w, double cost_per_tile) {
  const int64_t per_thread = (w.n_tiles + Threads() - 1) / Threads();
  const int64_t chunk = std::max<int64_t>(2, (per_thread + 1) / 2 * 2);
  return Forks(w.n_tiles, chunk, cost_per_tile) ? chunk : std::max<int64_t>(1, w.n_tiles);
}

using IntTilesFn = void (*)(const QuantizedRows&, const PackedMatrix&, int64_t, int64_t, float*,
                            int64_t);

void MatMulInt8(const float* x, int64_t m, const PackedMatrix& w, float* y, IntTilesFn tiles) {
  if (SplitRows(w, m, true)) {
    // Rows in multiples of 4 (the kernel's register tile); a row's result is the same in any.
    const int64_t rows = ((m + Threads() - 1) / Threads() + 3) / 4 * 4;
    ParallelChunks(m, rows, static_cast<double>(w.rows) * w.cols / 4, [&](int64_t r0, int64_t r1) {
      thread_local QuantizedRows part;  // this chunk's rows, quantized on the thread that runs it
      QuantizeRows(x + r0 * w.cols, r1 - r0, w.cols, w.block, &part);
      tiles(part, w, 0, w.n_tiles, y + r0 * w.rows, w.rows);
    });
    return;
  }
  thread_local QuantizedRows rows;
  QuantizedRows& xq = rows;  // captured by reference: the workers read this thread's rows
  QuantizeRows(x, m, w.cols, w.block, &xq);
  // int8 products run ~4x the float rate: fork above ~4M multiply-adds, or when streaming the
  // weights (a few hundred KB and up) is the cost
  const double cost = static_cast<double>(m) * w.cols * kTile / 20 +
                      static_cast<double>(w.cols) * BytesPerK(w.format) / 2;
  ParallelChunks(w.n_tiles, TileChunk(w, cost), cost,
                 [&](int64_t t0, int64_t t1) { tiles(xq, w, t0, t1, y, w.rows); });
}

}  // namespace

void MatMulPacked(const float* x, int64_t m, const PackedMatrix& w, float* y) {
  if (m == 0 || w.rows == 0) return;
  if (g_backend == Backend::kBlas && !w.dense.empty()) {
    BlasSgemmNT(m, w.rows, w.cols, x, w.dense.data(), y, Threads());
    return;
  }
  const SimdTarget target = CurrentSimdTarget();
  if (w.format == PanelFormat::kU8Quads || w.format == PanelFormat::kU4Quads ||
      w.format == PanelFormat::kU2Quads) {
    MatMulInt8(x, m, w, y,
               target == SimdTarget::kScalar                   ? IntTilesScalar
               : target == SimdTarget::kAvx512 && CpuHasVnni() ? IntTilesVnni
                                                               : IntTilesAvx2);
    return;
  }
  // Rows [r0, r0 + rows) of x over tiles [t0, t0 + n): the per-target float kernel.
  const auto tiles = target == SimdTarget::kScalar ? PackedTilesScalar : PackedTilesSimd;
  const auto run = [&](int64_t r0, int64_t rows, int64_t t0, int64_t n) {
    tiles(x + r0 * w.cols, rows, w, t0, n, y + r0 * w.rows, w.rows);
  };
  if (SplitRows(w, m, false)) {
    ParallelChunks(m, (m + Threads() - 1) / Threads(), static_cast<double>(w.rows) * w.cols,
                   [&](int64_t r0, int64_t r1) { run(r0, r1 - r0, 0, w.n_tiles); });
    return;
  }
  const double cost = static_cast<double>(m) * w.cols * kTile;
  ParallelChunks(w.n_tiles, TileChunk(w, cost), cost,
                 [&](int64_t t0, int64_t t1) { run(0, m, t0, t1 - t0); });
}

}  // namespace sculpt::kernels
