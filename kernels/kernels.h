// The kernels' plain API: the only entry points through which the denoiser does heavy math
// (STYLE.md rule 11). Shapes are row-major; `[rows, cols]` comments give them.
//
// Determinism contract (ARCHITECTURE.md): every output element is produced by one fixed-order
// reduction, and work is split across threads by output rows/columns only. A row's result
// therefore never depends on the batch it is in or on the thread count.
#pragma once

#include <cstdint>

#include "kernels/quant.h"

namespace sculpt::kernels {

// A weight matrix [rows, cols] stored in a ggml layout: row r (one output feature) starts at
// data + r * row_bytes and holds `cols` values in blocks of the type.
struct WeightMatrix {
  GgmlType type = GgmlType::kF32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_bytes = 0;
};

// Threads used by every kernel. Results do not depend on it.
void SetThreads(int n);
int Threads();

// y[m, w.rows] = x[m, w.cols] · w^T. Each y[i, n] is the chain acc = fma(x[i, k], w[n, k], acc)
// over k = 0..cols-1 in float, starting from 0, with w dequantized exactly to float. This is the
// scalar reference of that contract; the fast kernels read packed weights (kernels/packed.h).
void MatMul(const float* x, int64_t m, const WeightMatrix& w, float* y);

// out[i, :] = row ids[i] of `table`, dequantized to float. [n, table.cols]
void EmbeddingLookup(const WeightMatrix& table, const int32_t* ids, int64_t n, float* out);

// y[i, j] += b[j] for a [m, n] matrix.
void AddBias(float* y, int64_t m, int64_t n, const float* b);
// x[i] += y[i].
void AddInPlace(float* x, const float* y, int64_t n);

// y[i, :] = x[i, :] / sqrt(mean(x[i, :]^2) + eps) * w. Sum of squares accumulated in double, in
// order. x and y are [rows, n]; they may alias.
void RmsNorm(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* y);

// out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)), through the exponential of -|g| of
// kernels/exp.h (the same bits on every target). out may alias gate.
void SwiGlu(const float* gate, const float* up, int64_t n, float* out);

// Rotary position embedding.
enum class RopeStyle {
  kNorm,  // ggml NORM: rotates pairs (2j, 2j+1) (LLaMA / LLaDA GGUF layout)
  kNeox,  // ggml NEOX: rotates pairs (j, j + rope_dim/2) (Qwen2 / Dream)
};
// cos_sin[t, j] = (cos θ, sin θ), θ = pos[t] · base^(-2j/rope_dim), computed in double and
// rounded to float once. cos_sin is [n, rope_dim/2, 2].
void RopeTable(const int32_t* pos, int64_t n, int64_t rope_dim, double base, float* cos_sin);
// Rotates the first rope_dim values of each head of x in place. x is [n, row_stride] with
// n_heads heads of head_dim values starting at column 0.
void ApplyRope(float* x, int64_t n, int64_t row_stride, int64_t n_heads, int64_t head_dim,
               int64_t rope_dim, RopeStyle style, const float* cos_sin);

enum class AttentionMode {
  kBidirectional,  // every query sees every key
  kCausal,         // a query sees keys at positions <= its own
  kBlockCausal,    // a query sees keys whose block ((position - origin) / block_size) is <= its own
};

// Scaled dot-product attention for one sequence with grouped-query heads.
struct AttentionArgs {
  const float* q = nullptr;  // [n_q, q_stride]; head h at column h * head_dim
  int64_t n_q = 0;
  int64_t q_stride = 0;
  const int32_t* q_pos = nullptr;  // [n_q]
  const float* k = nullptr;        // [n_kv, kv_stride]; kv head g at column g * head_dim
  // Or the keys already in panels (StoreKeyPanels, as a KV cache keeps them): when set, k is not
  // read and the panels are not rebuilt from it. k_panel_keys (a multiple of kKeyPanel, >= n_kv)
  // is the panels' key capacity per kv head.
  const float* k_panels = nullptr;
  int64_t k_panel_keys = 0;
  const float* v = nullptr;        // [n_kv, kv_stride]
  int64_t n_kv = 0;
  int64_t kv_stride = 0;
  const int32_t* k_pos = nullptr;  // [n_kv]
  int64_t n_head = 0;
  int64_t n_head_kv = 0;  // query head h uses kv head h / (n_head / n_head_kv)
  int64_t head_dim = 0;
  AttentionMode mode = AttentionMode::kBidirectional;
  int64_t block_size = 0;  // kBlockCausal only
  int64_t block_origin = 0;  // kBlockCausal: block of position p is (p - origin) / block_size;
                             // positions before the origin form one block (-1) before all others
  float* out = nullptr;    // [n_q, out_stride]; head h at column h * head_dim
  int64_t out_stride = 0;
};
// Keys per panel: attention reads the keys of each kv head as panels of kKeyPanel keys, each
// transposed, [n_head_kv][panel_keys / kKeyPanel][head_dim][kKeyPanel].
inline constexpr int64_t kKeyPanel = 16;
// Writes keys [n, stride] (kv head g at column g * head_dim) as keys row0 .. row0 + n - 1 of
// panels holding panel_keys keys per kv head. A copy: the values are unchanged.
void StoreKeyPanels(const float* k, int64_t n, int64_t stride, int64_t row0, int64_t n_head_kv,
                    int64_t head_dim, int64_t panel_keys, float* panels);
// Per (query, head): s_j = (q·k_j) / sqrt(head_dim) over the visible keys in index order,
// p = softmax(s), out = Σ p_j v_j. Each query's result depends only on its own row, the keys it
// sees and their order.
void Attention(const AttentionArgs& args);

}  // namespace sculpt::kernels
