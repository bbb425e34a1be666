// Scalar twins of the SIMD kernels (STYLE.md rule 10): the same operations in the same order,
// std::fma where the SIMD code uses FMA, so every target gives the same bits.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/matmul_tile.h"

namespace sculpt::kernels {

void TileScalar(const float* x, int64_t m, int64_t k, const float* panel, float* y, int64_t ldy,
                int64_t nt) {
  for (int64_t i = 0; i < m; ++i) {
    float acc[kTile] = {};
    for (int64_t kk = 0; kk < k; ++kk) {
      const float a = x[i * k + kk];
      for (int64_t j = 0; j < kTile; ++j) acc[j] = std::fma(a, panel[kk * kTile + j], acc[j]);
    }
    for (int64_t j = 0; j < nt; ++j) y[i * ldy + j] = acc[j];
  }
}

}  // namespace sculpt::kernels

// ---- packed panels (kernels/packed.h) ---------------------------------------------------------
#include "base/check.h"
#include "kernels/packed.h"
#include "kernels/int8_matmul.h"
#include "kernels/quant.h"

namespace sculpt::kernels {

namespace {
// The kTile weights of tile t at column k, as floats (the scalar twin of the SIMD loads).
void WeightsAt(const PackedMatrix& w, int64_t t, int64_t k, float* out) {
  const int64_t at = (t * w.cols + k) * kTile;
  switch (w.format) {
    case PanelFormat::kF32:
      std::memcpy(out, reinterpret_cast<const float*>(w.values.data()) + at, kTile * sizeof(float));
      return;
    case PanelFormat::kF16:
      for (int64_t j = 0; j < kTile; ++j) out[j] = HalfToFloat(reinterpret_cast<const uint16_t*>(w.values.data())[at + j]);
      return;
    case PanelFormat::kBF16:
      for (int64_t j = 0; j < kTile; ++j) out[j] = Bf16ToFloat(reinterpret_cast<const uint16_t*>(w.values.data())[at + j]);
      return;
    case PanelFormat::kI8:
    case PanelFormat::kI4: {
      for (int64_t j = 0; j < kTile; ++j) {
        int q;
        if (w.format == PanelFormat::kI8) {
          q = reinterpret_cast<const int8_t*>(w.values.data())[at + j];
        } else {
          const uint8_t byte = w.values.data()[(t * w.cols + k) * (kTile / 2) + j % (kTile / 2)];
          q = (j < kTile / 2 ? byte & 0xF : byte >> 4) - w.offset;
        }
        out[j] = ScaleOf(w, t, k / w.block, j) * static_cast<float>(q);
        if (w.has_min) out[j] = out[j] - MinOf(w, t, k / w.block, j);
      }
      return;
    }
    case PanelFormat::kU8Quads:  // int8-activation formats: their twin is IntTilesScalar
    case PanelFormat::kU4Quads:
    case PanelFormat::kU2Quads:
      SCULPT_CHECK(false && "WeightsAt: not a float-path format");
  }
}
}  // namespace

void PackedTilesScalar(const float* x, int64_t m, const PackedMatrix& w, int64_t tile,
                       int64_t n_tiles, float* y_all, int64_t ldy) {
  float wk[kTile];
  for (int64_t t = tile; t < tile + n_tiles; ++t) {
  const int64_t nt = ColsOf(w, t);
  float* y = y_all + t * kTile;
  for (int64_t i = 0; i < m; ++i) {
    float acc[kTile] = {};
    for (int64_t k = 0; k < w.cols; ++k) {
      WeightsAt(w, t, k, wk);
      for (int64_t j = 0; j < kTile; ++j) acc[j] = std::fma(x[i * w.cols + k], wk[j], acc[j]);
    }
    for (int64_t j = 0; j < nt; ++j) y[i * ldy + j] = acc[j];
  }
  }
}

// ---- int8 activations (kernels/int8_matmul.h) -------------------------------------------------

namespace {
// The unsigned weight byte of tile t, column j, at k.
inline int WeightByte(const PackedMatrix& w, int64_t t, int64_t k, int64_t j) {
  const uint8_t* v = w.values.data();
  if (w.format == PanelFormat::kU8Quads) return v[((t * (w.cols / 4) + k / 4) * kTile + j) * 4 + k % 4];
  if (w.format == PanelFormat::kU2Quads) {  // crumb (k % 16) / 4
    const uint8_t byte = v[((t * (w.cols / 16) + k / 16) * kTile + j) * 4 + k % 4];
    return (byte >> (2 * (k % 16 / 4))) & 3;
  }
  const uint8_t byte = v[((t * (w.cols / 8) + k / 8) * kTile + j) * 4 + k % 4];
  const int nibble = (k % 8) < 4 ? (byte & 0x0F) : (byte >> 4);
  if (w.levels) return kIq4Levels[nibble] + w.offset;
  int u = nibble;  // and the bit planes' bits 4, 5 (PackedMatrix::high)
  const int64_t n = j * 4 + k % 4;
  const int64_t c = n / 16 + ((k % 8) < 4 ? 0 : 4);
  for (int b = 0; b < w.planes; ++b) {
    const uint8_t* plane = PlanesOf(w, t, k - k % 8) + b * 16;
    u |= ((plane[n % 16] >> c) & 1) << (4 + b);
  }
  return u;
}

}  // namespace

void IntTilesScalar(const QuantizedRows& x, const PackedMatrix& w, int64_t t0, int64_t t1, float* y,
                    int64_t ldy) {
  const int64_t K = w.cols, B = w.block, nb = K / B;
  for (int64_t t = t0; t < t1; ++t) {
    for (int64_t i = 0; i < x.m; ++i) {
      float acc[kTile] = {};
      for (int64_t b = 0; b < nb; ++b) {
        int32_t isum[kTile] = {};
        for (int64_t k = b * B; k < (b + 1) * B; ++k) {
          const int32_t q = x.q[static_cast<size_t>(i * K + k)];
          for (int64_t j = 0; j < kTile; ++j) isum[j] += WeightByte(w, t, k, j) * q;
        }
        const float d = x.d[static_cast<size_t>(i * nb + b)];
        const int32_t s = x.sum[static_cast<size_t>(i * nb + b)];
        for (int64_t j = 0; j < kTile; ++j) {
          const float scale = ScaleOf(w, t, b, j);
          acc[j] = std::fma(static_cast<float>(isum[j] - w.offset * s), d * scale, acc[j]);
          if (w.has_min) acc[j] = std::fma(static_cast<float>(-s), d * MinOf(w, t, b, j), acc[j]);
        }
      }
      for (int64_t j = 0; j < ColsOf(w, t); ++j) y[i * ldy + t * kTile + j] = acc[j];
    }
  }
}

}  // namespace sculpt::kernels
