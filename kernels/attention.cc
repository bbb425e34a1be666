// Attention, one (query, head) per work item. Every query's output depends only on its own row,
// the keys it sees and their order, never on other queries, the thread count or the SIMD target:
//   s_j = (chain over d of fma(q_d, k_jd)) * scale     one chain per key, d in order
//   p_j = ExpNonPositive(s_j - max_j s_j)              0 for keys the query does not see
//   sum = 16 lane partials (key j -> lane j % 16, keys in order), then a fixed pairwise tree
//   out_d = (chain over visible j of fma(p_j, v_jd)) * (1 / sum)
// The SIMD body (attention_simd.cc) runs keys across lanes for the scores and head dimensions
// across lanes for the output; AttendScalar below is its twin, operation for operation.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "base/check.h"
#include "kernels/attention_internal.h"
#include "kernels/exp.h"
#include "kernels/kernels.h"
#include "kernels/parallel.h"
#include "kernels/simd.h"

namespace sculpt::kernels {

float LaneTreeSum(float* lanes) {
  for (int half = kAttnLanes / 2; half >= 1; half /= 2)
    for (int l = 0; l < half; ++l) lanes[l] = lanes[l] + lanes[l + half];
  return lanes[0];
}

int32_t VisibilityKey(AttentionMode mode, int64_t block, int64_t origin, int32_t pos) {
  switch (mode) {
    case AttentionMode::kBidirectional: return 0;
    case AttentionMode::kCausal: return pos;
    case AttentionMode::kBlockCausal:
      return pos < origin ? -1 : static_cast<int32_t>((pos - origin) / block);
  }
  return 0;
}

namespace {

void AttendScalar(const AttentionArgs& a, const AttentionPrep& prep, int64_t i, int64_t h, float* p) {
  const int64_t hd = a.head_dim;
  const int64_t g = h / (a.n_head / a.n_head_kv);
  const float* q = a.q + i * a.q_stride + h * hd;
  float* out = a.out + i * a.out_stride + h * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int32_t qv = VisibilityKey(a.mode, a.block_size, a.block_origin, a.q_pos[i]);
  const float kNegInf = -std::numeric_limits<float>::infinity();
  float max_score = kNegInf;
  for (int64_t j = 0; j < prep.n_kv_pad; ++j) {
    if (prep.key_vis[j] > qv) {
      p[j] = kNegInf;
      continue;
    }
    // key j's dimension d is k[d * step], in the caller's panels or in its row
    const bool panels = a.k_panels != nullptr;
    const float* k = panels ? a.k_panels + g * hd * a.k_panel_keys + PanelOffset(hd, j, 0)
                            : a.k + j * a.kv_stride + g * hd;
    const int64_t step = panels ? kAttnLanes : 1;
    float dot = 0.0f;
    for (int64_t d = 0; d < hd; ++d) dot = std::fma(q[d], k[d * step], dot);
    p[j] = dot * scale;
    max_score = std::max(max_score, p[j]);
  }
  for (int64_t d = 0; d < hd; ++d) out[d] = 0.0f;
  if (max_score == kNegInf) return;  // no visible key
  float lanes[kAttnLanes] = {};
  for (int64_t j = 0; j < prep.n_kv_pad; ++j) {
    p[j] = ExpNonPositive(p[j] - max_score);
    lanes[j % kAttnLanes] = lanes[j % kAttnLanes] + p[j];
  }
  const float inv = 1.0f / LaneTreeSum(lanes);
  for (int64_t j = 0; j < a.n_kv; ++j) {
    if (p[j] == 0.0f) continue;
    const float* v = a.v + j * a.kv_stride + g * hd;
    for (int64_t d = 0; d < hd; ++d) out[d] = std::fma(p[j], v[d], out[d]);
  }
  for (int64_t d = 0; d < hd; ++d) out[d] = out[d] * inv;
}

}  // namespace

void StoreKeyPanels(const float* k, int64_t n, int64_t stride, int64_t row0, int64_t n_head_kv,
                    int64_t head_dim, int64_t panel_keys, float* panels) {
  SCULPT_CHECK(row0 >= 0 && row0 + n <= panel_keys && panel_keys % kAttnLanes == 0);
  for (int64_t g = 0; g < n_head_kv; ++g) {
    float* head = panels + g * head_dim * panel_keys;
    for (int64_t i = 0; i < n; ++i) {
      const float* src = k + i * stride + g * head_dim;
      float* dst = head + PanelOffset(head_dim, row0 + i, 0);
      for (int64_t d = 0; d < head_dim; ++d) dst[d * kAttnLanes] = src[d];
    }
  }
}

void Attention(const AttentionArgs& a) {
  // Reused across calls (per calling thread): a decode step calls this once per layer, and
  // allocating the key panels each time cost page faults. The workers below use this thread's
  // instance through the reference.
  thread_local AttentionPrep kept;
  AttentionPrep& prep = kept;
  prep.n_kv_pad = (a.n_kv + kAttnLanes - 1) / kAttnLanes * kAttnLanes;
  prep.key_vis.assign(static_cast<size_t>(prep.n_kv_pad), std::numeric_limits<int32_t>::max());
  for (int64_t j = 0; j < a.n_kv; ++j) prep.key_vis[j] = VisibilityKey(a.mode, a.block_size, a.block_origin, a.k_pos[j]);
  // The SIMD body needs the head dimension in whole vectors of 8 (AVX2) and 16 (AVX-512) floats.
  const bool simd = CurrentSimdTarget() != SimdTarget::kScalar && a.head_dim % kAttnLanes == 0;
  if (a.k_panels != nullptr) {
    SCULPT_CHECK(a.k_panel_keys >= prep.n_kv_pad && a.k_panel_keys % kAttnLanes == 0);
    prep.keys = a.k_panels;
    prep.panel_keys = a.k_panel_keys;
  } else if (simd) {
    prep.kt.resize(static_cast<size_t>(a.n_head_kv * a.head_dim * prep.n_kv_pad));
    FillKeyPanelsSimd(a, prep.n_kv_pad, prep.kt.data());
    prep.keys = prep.kt.data();
    prep.panel_keys = prep.n_kv_pad;
  }
  // SIMD items are pairs of queries of one head; scalar items one query of one head.
  const int64_t per_item = simd ? 2 : 1;
  const int64_t items = (a.n_q + per_item - 1) / per_item * a.n_head;
  ParallelChunks(items, simd ? 2 : 4, static_cast<double>(a.n_kv) * a.head_dim * 2 * per_item, [&](int64_t b, int64_t e) {
    thread_local std::vector<float> scratch;
    scratch.resize(static_cast<size_t>(prep.n_kv_pad * per_item));
    if (simd) {
      AttendSimd(a, prep, b, e, scratch.data());
    } else {
      for (int64_t it = b; it < e; ++it) AttendScalar(a, prep, it / a.n_head, it % a.n_head, scratch.data());
    }
  });
}

}  // namespace sculpt::kernels
