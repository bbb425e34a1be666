// Shared between the attention driver (attention.cc) and its SIMD body (attention_simd.cc).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernels.h"

namespace sculpt::kernels {

inline constexpr int kAttnLanes = 16;  // keys per block of the softmax sum (lane j % 16)
static_assert(kAttnLanes == kKeyPanel, "a key panel is one block of the softmax sum");

// Per call: what the SIMD body and the scalar twin share.
struct AttentionPrep {
  int64_t n_kv_pad = 0;          // n_kv rounded up to kAttnLanes
  std::vector<int32_t> key_vis;  // [n_kv_pad] VisibilityKey of each key; INT32_MAX for padding
  // The keys of each kv head in panels of kAttnLanes keys, each panel transposed:
  // [n_head_kv][panel_keys / kAttnLanes][head_dim][kAttnLanes]. A panel is one contiguous stream
  // for the scores (a plain [head_dim][n_kv] transpose put head_dim rows a power-of-two stride
  // apart into a few cache sets). Either the caller's (AttentionArgs::k_panels) or, for the SIMD
  // body, built from AttentionArgs::k into `kt` (panel_keys = n_kv_pad, padding keys 0).
  const float* keys = nullptr;
  int64_t panel_keys = 0;
  std::vector<float> kt;
};

// Where keys [j, j + lanes) of dimension d start in a kv head's panels (lanes divides kAttnLanes,
// j a multiple of lanes).
inline int64_t PanelOffset(int64_t head_dim, int64_t j, int64_t d) {
  return (j / kAttnLanes) * head_dim * kAttnLanes + d * kAttnLanes + j % kAttnLanes;
}

// A query sees key j when key_vis[j] <= VisibilityKey(its position).
int32_t VisibilityKey(AttentionMode mode, int64_t block, int64_t origin, int32_t pos);
// Sums 16 lane partials by the fixed pairwise tree (lane l += lane l + half, half = 8, 4, 2, 1).
float LaneTreeSum(float* lanes);

// Fills AttentionPrep::kt ([n_head_kv * head_dim * n_kv_pad] floats) from a.k.
void FillKeyPanelsSimd(const AttentionArgs& a, int64_t n_kv_pad, float* kt);
// Items [begin, end) (item = query pair * n_head + head: queries 2i and 2i+1 when it exists);
// scratch holds 2 * n_kv_pad floats.
void AttendSimd(const AttentionArgs& a, const AttentionPrep& prep, int64_t begin, int64_t end,
                float* scratch);

}  // namespace sculpt::kernels
