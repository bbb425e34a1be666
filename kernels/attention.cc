// Attention, one (query, head) per work item; keys are visited in index order, so a query's
// output is independent of the other queries and of the thread count.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/parallel.h"

namespace sculpt::kernels {

namespace {

bool Visible(AttentionMode mode, int64_t block, int32_t q_pos, int32_t k_pos) {
  switch (mode) {
    case AttentionMode::kBidirectional: return true;
    case AttentionMode::kCausal: return k_pos <= q_pos;
    case AttentionMode::kBlockCausal: return k_pos / block <= q_pos / block;
  }
  return false;
}

void AttendOne(const AttentionArgs& a, int64_t i, int64_t h, std::vector<float>& scores) {
  const int64_t hd = a.head_dim;
  const int64_t g = h / (a.n_head / a.n_head_kv);
  const float* q = a.q + i * a.q_stride + h * hd;
  float* out = a.out + i * a.out_stride + h * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  scores.resize(static_cast<size_t>(a.n_kv));
  float max_score = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < a.n_kv; ++j) {
    if (!Visible(a.mode, a.block_size, a.q_pos[i], a.k_pos[j])) {
      scores[j] = -std::numeric_limits<float>::infinity();
      continue;
    }
    const float* k = a.k + j * a.kv_stride + g * hd;
    float dot = 0.0f;
    for (int64_t d = 0; d < hd; ++d) dot = std::fma(q[d], k[d], dot);
    scores[j] = dot * scale;
    if (scores[j] > max_score) max_score = scores[j];
  }
  for (int64_t d = 0; d < hd; ++d) out[d] = 0.0f;
  if (max_score == -std::numeric_limits<float>::infinity()) return;  // no visible key
  float sum = 0.0f;
  for (int64_t j = 0; j < a.n_kv; ++j) {
    if (scores[j] == -std::numeric_limits<float>::infinity()) continue;
    const float p = std::exp(scores[j] - max_score);
    sum += p;
    const float* v = a.v + j * a.kv_stride + g * hd;
    for (int64_t d = 0; d < hd; ++d) out[d] = std::fma(p, v[d], out[d]);
  }
  const float inv = 1.0f / sum;
  for (int64_t d = 0; d < hd; ++d) out[d] *= inv;
}

}  // namespace

void Attention(const AttentionArgs& a) {
  const int64_t items = a.n_q * a.n_head;
  ParallelChunks(items, 4, static_cast<double>(a.n_kv) * a.head_dim * 2,
                 [&](int64_t b, int64_t e) {
                   thread_local std::vector<float> scores;
                   for (int64_t it = b; it < e; ++it) AttendOne(a, it / a.n_head, it % a.n_head, scores);
                 });
}

}  // namespace sculpt::kernels
