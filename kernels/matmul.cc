// MatMul and embedding lookup over ggml weight layouts.
//
// Contract (kernels.h): y[i, n] is the chain acc = fma(x[i, k], w[n, k], acc) over k = 0..K-1.
// This is the reference the packed kernels (kernels/packed.h) are tested against: for a tile of
// kTile output features the weights are dequantized into a panel [K][kTile] and every x row runs
// kTile std::fma chains over k. It is scalar on purpose; the model uses MatMulPacked.
#include <cmath>
#include <vector>

#include "base/check.h"
#include "kernels/kernels.h"
#include "kernels/matmul_tile.h"
#include "kernels/parallel.h"

namespace sculpt::kernels {


void MatMul(const float* x, int64_t m, const WeightMatrix& w, float* y) {
  const int64_t n = w.rows, k = w.cols;
  if (m == 0 || n == 0) return;
  ParallelChunks(n, kTile, static_cast<double>(m) * k, [&](int64_t n0, int64_t n1) {
    thread_local std::vector<float> row, panel;  // [k], [k, kTile]
    row.resize(static_cast<size_t>(k));
    panel.assign(static_cast<size_t>(k * kTile), 0.0f);
    for (int64_t r = n0; r < n1; ++r) {
      const float* src;
      if (w.type == GgmlType::kF32) {
        src = reinterpret_cast<const float*>(w.data + r * w.row_bytes);
      } else {
        Dequantize(w.type, w.data + r * w.row_bytes, k, row.data());
        src = row.data();
      }
      for (int64_t kk = 0; kk < k; ++kk) panel[kk * kTile + (r - n0)] = src[kk];
    }
    TileScalar(x, m, k, panel.data(), y + n0, n, n1 - n0);
  });
}

void EmbeddingLookup(const WeightMatrix& table, const int32_t* ids, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    SCULPT_CHECK(ids[i] >= 0 && ids[i] < table.rows);
    Dequantize(table.type, table.data + ids[i] * table.row_bytes, table.cols,
               out + i * table.cols);
  }
}

}  // namespace sculpt::kernels
