// MatMul and embedding lookup over ggml weight layouts.
//
// This is the simple scalar version of the contract in kernels.h: for a tile of up to kTile
// output features, the weight rows are dequantized once into a thread-local float panel, then
// every x row is multiplied with them. Each output element is one std::fma chain over k.
#include <cmath>
#include <vector>

#include "base/check.h"
#include "kernels/kernels.h"
#include "kernels/parallel.h"

namespace sculpt::kernels {

namespace {
constexpr int64_t kTile = 16;

float DotChain(const float* a, const float* b, int64_t k) {
  float acc = 0.0f;
  for (int64_t i = 0; i < k; ++i) acc = std::fma(a[i], b[i], acc);
  return acc;
}
}  // namespace

void MatMul(const float* x, int64_t m, const WeightMatrix& w, float* y) {
  const int64_t n = w.rows, k = w.cols;
  if (m == 0 || n == 0) return;
  ParallelChunks(n, kTile, static_cast<double>(m) * k, [&](int64_t n0, int64_t n1) {
    thread_local std::vector<float> panel;  // [n1 - n0, k]
    const float* rows;
    if (w.type == GgmlType::kF32) {
      rows = reinterpret_cast<const float*>(w.data + n0 * w.row_bytes);
    } else {
      panel.resize(static_cast<size_t>((n1 - n0) * k));
      for (int64_t r = n0; r < n1; ++r) Dequantize(w.type, w.data + r * w.row_bytes, k,
                                                   panel.data() + (r - n0) * k);
      rows = panel.data();
    }
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t r = n0; r < n1; ++r) y[i * n + r] = DotChain(x + i * k, rows + (r - n0) * k, k);
    }
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
