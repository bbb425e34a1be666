// Highway body of Attention (kernels/attention.cc explains the arithmetic; AttendScalar there is
// the twin). Two queries of one head at a time, sharing the loads of keys and values. Scores: keys
// across lanes (read from key panels: the KV cache's, or built here by FillKeyPanels), one MulAdd
// chain over d per key (up to four key vectors at a time for independent chains). Output: head
// dimensions across lanes, one MulAdd chain over the keys.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/attention_internal.h"
#include "kernels/exp_simd-inl.h"

HWY_BEFORE_NAMESPACE();
namespace sculpt::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Scores of Q queries (1 or 2) against NV vectors of keys from j: one chain over d per (query,
// key); two queries share the key loads and give twice the independent chains.
template <int Q, int NV, class D, class V = hn::Vec<D>>
HWY_INLINE void Scores(D df, const float* HWY_RESTRICT const* q, const float* HWY_RESTRICT kt,
                       int64_t hd, int64_t j, V* dots) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  for (int v = 0; v < Q * NV; ++v) dots[v] = hn::Zero(df);
  const float* HWY_RESTRICT rows[NV];
  for (int v = 0; v < NV; ++v) rows[v] = kt + PanelOffset(hd, j + v * N, 0);
  for (int64_t d = 0; d < hd; ++d) {
    V k[NV];
    for (int v = 0; v < NV; ++v) k[v] = hn::LoadU(df, rows[v] + d * kAttnLanes);
    for (int qi = 0; qi < Q; ++qi) {
      const V qd = hn::Set(df, q[qi][d]);
      for (int v = 0; v < NV; ++v) dots[qi * NV + v] = hn::MulAdd(qd, k[v], dots[qi * NV + v]);
    }
  }
}

// Scores p[0, npad) (max vmax) become exp(s - max); returns 1 / their sum (16 lane partials, then
// the fixed tree). No visible key: p is zeroed and 0 returned, so the output is 0.
template <class D, class V = hn::Vec<D>>
HWY_INLINE float Probabilities(D df, V vmax, int64_t npad, float* HWY_RESTRICT p) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const float max_score = hn::GetLane(hn::MaxOfLanes(df, vmax));
  if (max_score == -std::numeric_limits<float>::infinity()) {
    for (int64_t j = 0; j < npad; ++j) p[j] = 0.0f;
    return 0.0f;
  }
  const int64_t per_block = kAttnLanes / N;
  HWY_ALIGN float lanes[kAttnLanes];
  V acc[kAttnLanes];
  for (int64_t v = 0; v < per_block; ++v) acc[v] = hn::Zero(df);
  const V vm = hn::Set(df, max_score);
  for (int64_t j = 0; j < npad; j += kAttnLanes) {
    for (int64_t v = 0; v < per_block; ++v) {
      const V e = ExpNonPositiveV(df, hn::Sub(hn::LoadU(df, p + j + v * N), vm));
      hn::StoreU(e, df, p + j + v * N);
      acc[v] = hn::Add(acc[v], e);
    }
  }
  for (int64_t v = 0; v < per_block; ++v) hn::StoreU(acc[v], df, lanes + v * N);
  return 1.0f / LaneTreeSum(lanes);
}

// out[qi] = (chain over the keys of fma(p_k, v_k)) * inv[qi]: head dimensions across lanes, up to
// 8 vectors at once over the queries; a key with probability 0 is skipped for that query.
template <int Q, class D>
HWY_INLINE void WeightedValues(D df, const AttentionArgs& a, int64_t g, const float* HWY_RESTRICT p,
                               int64_t npad, const float* inv, float* const* out) {
  using V = hn::Vec<D>;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t hd = a.head_dim;
  constexpr int64_t kMaxVec = 8 / Q;
  for (int64_t d0 = 0; d0 < hd; d0 += kMaxVec * N) {
    const int64_t nv = std::min<int64_t>(kMaxVec, (hd - d0) / N);
    V o[Q][kMaxVec];
    for (int qi = 0; qi < Q; ++qi)
      for (int64_t v = 0; v < nv; ++v) o[qi][v] = hn::Zero(df);
    for (int64_t k = 0; k < a.n_kv; ++k) {
      const float* HWY_RESTRICT vr = a.v + k * a.kv_stride + g * hd + d0;
      for (int qi = 0; qi < Q; ++qi) {
        const float pk = p[qi * npad + k];
        if (pk == 0.0f) continue;
        const V vpk = hn::Set(df, pk);
        for (int64_t v = 0; v < nv; ++v) o[qi][v] = hn::MulAdd(vpk, hn::LoadU(df, vr + v * N), o[qi][v]);
      }
    }
    for (int qi = 0; qi < Q; ++qi) {
      const V vinv = hn::Set(df, inv[qi]);
      for (int64_t v = 0; v < nv; ++v) hn::StoreU(hn::Mul(o[qi][v], vinv), df, out[qi] + d0 + v * N);
    }
  }
}

// Q queries of one head: scores into p[qi * npad + j], softmax, outputs.
template <int Q>
HWY_INLINE void AttendQueries(const AttentionArgs& a, const AttentionPrep& prep, const int64_t* qrow,
                              int64_t h, float* HWY_RESTRICT p) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  using V = hn::Vec<decltype(df)>;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t hd = a.head_dim, npad = prep.n_kv_pad;
  const int64_t g = h / (a.n_head / a.n_head_kv);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const V neg_inf = hn::Set(df, -std::numeric_limits<float>::infinity());
  const float* HWY_RESTRICT kt = prep.keys + g * hd * prep.panel_keys;
  const float* HWY_RESTRICT q[Q];
  float* out[Q];
  hn::Vec<decltype(di)> qv[Q];
  V vmax[Q];
  for (int qi = 0; qi < Q; ++qi) {
    q[qi] = a.q + qrow[qi] * a.q_stride + h * hd;
    out[qi] = a.out + qrow[qi] * a.out_stride + h * hd;
    qv[qi] = hn::Set(di, VisibilityKey(a.mode, a.block_size, a.block_origin, a.q_pos[qrow[qi]]));
    vmax[qi] = neg_inf;
  }
  auto finish = [&](int qi, V dot, int64_t j0) {
    const auto hidden = hn::Lt(qv[qi], hn::LoadU(di, prep.key_vis.data() + j0));
    const V s = hn::IfThenElse(hn::RebindMask(df, hidden), neg_inf, hn::Mul(dot, hn::Set(df, scale)));
    hn::StoreU(s, df, p + qi * npad + j0);
    vmax[qi] = hn::Max(vmax[qi], s);
  };
  // Scores, up to four vectors of keys per pass.
  V dots[Q * 4];
  for (int64_t j = 0; j < npad;) {
    const int64_t nv = std::min<int64_t>(4, (npad - j) / N);
    switch (nv) {
      case 4: Scores<Q, 4>(df, q, kt, hd, j, dots); break;
      case 3: Scores<Q, 3>(df, q, kt, hd, j, dots); break;
      case 2: Scores<Q, 2>(df, q, kt, hd, j, dots); break;
      default: Scores<Q, 1>(df, q, kt, hd, j, dots); break;
    }
    for (int qi = 0; qi < Q; ++qi)
      for (int64_t v = 0; v < nv; ++v) finish(qi, dots[qi * nv + v], j + v * N);
    j += nv * N;
  }
  float inv[Q];
  for (int qi = 0; qi < Q; ++qi) inv[qi] = Probabilities(df, vmax[qi], npad, p + qi * npad);
  WeightedValues<Q>(df, a, g, p, npad, inv, out);
}

#if HWY_TARGET != HWY_SCALAR
// Rows v[0, N) of an N x N tile (N = 8 or 16 lanes) transposed in registers: v[c] becomes column
// c. 4 x 4 transposes inside each 128-bit block, then the blocks are transposed across vectors.
template <class D, class V = hn::Vec<D>>
HWY_INLINE void TransposeTile(D df, V* v) {
  constexpr size_t kN = hn::MaxLanes(D());
  constexpr size_t kB = kN / 4;  // 128-bit blocks per vector
  const hn::Repartition<double, D> dd;
  V u[4][kB];  // u[c][q]: block b holds rows 4q..4q+3 of column 4b + c
  for (size_t q = 0; q < kB; ++q) {
    const V t0 = hn::InterleaveLower(df, v[4 * q], v[4 * q + 1]);
    const V t1 = hn::InterleaveUpper(df, v[4 * q], v[4 * q + 1]);
    const V t2 = hn::InterleaveLower(df, v[4 * q + 2], v[4 * q + 3]);
    const V t3 = hn::InterleaveUpper(df, v[4 * q + 2], v[4 * q + 3]);
    u[0][q] = hn::BitCast(df, hn::InterleaveLower(dd, hn::BitCast(dd, t0), hn::BitCast(dd, t2)));
    u[1][q] = hn::BitCast(df, hn::InterleaveUpper(dd, hn::BitCast(dd, t0), hn::BitCast(dd, t2)));
    u[2][q] = hn::BitCast(df, hn::InterleaveLower(dd, hn::BitCast(dd, t1), hn::BitCast(dd, t3)));
    u[3][q] = hn::BitCast(df, hn::InterleaveUpper(dd, hn::BitCast(dd, t1), hn::BitCast(dd, t3)));
  }
  for (size_t c = 0; c < 4; ++c) {
    if constexpr (kB == 2) {
      v[c] = hn::ConcatLowerLower(df, u[c][1], u[c][0]);
      v[4 + c] = hn::ConcatUpperUpper(df, u[c][1], u[c][0]);
    } else {
      const V x0 = hn::OddEvenBlocks(hn::SwapAdjacentBlocks(u[c][1]), u[c][0]);  // blocks 0 and 2
      const V x1 = hn::OddEvenBlocks(u[c][1], hn::SwapAdjacentBlocks(u[c][0]));  // blocks 1 and 3
      const V y0 = hn::OddEvenBlocks(hn::SwapAdjacentBlocks(u[c][3]), u[c][2]);
      const V y1 = hn::OddEvenBlocks(u[c][3], hn::SwapAdjacentBlocks(u[c][2]));
      v[c] = hn::ConcatLowerLower(df, y0, x0);
      v[4 + c] = hn::ConcatLowerLower(df, y1, x1);
      v[8 + c] = hn::ConcatUpperUpper(df, y0, x0);
      v[12 + c] = hn::ConcatUpperUpper(df, y1, x1);
    }
  }
}
#endif

// AttentionPrep::kt from the keys: tiles of N keys x N dimensions are loaded as rows (each key's
// row read in order), transposed in registers and stored as panel rows.
void FillKeyPanels(const AttentionArgs& a, int64_t npad, float* HWY_RESTRICT kt) {
  const int64_t hd = a.head_dim;
#if HWY_TARGET == HWY_SCALAR  // not dispatched to (the scalar twin reads the keys in place)
  std::fill(kt, kt + a.n_head_kv * hd * npad, 0.0f);
  StoreKeyPanels(a.k, a.n_kv, a.kv_stride, 0, a.n_head_kv, hd, npad, kt);
#else
  const hn::ScalableTag<float> df;
  constexpr size_t kN = hn::MaxLanes(decltype(df)());
  static_assert(kN == 8 || kN == 16, "tiles of 8 (AVX2) or 16 (AVX-512) lanes");
  const int64_t N = static_cast<int64_t>(kN);
  for (int64_t j0 = 0; j0 < npad; j0 += N)
    for (int64_t g = 0; g < a.n_head_kv; ++g)
      for (int64_t d0 = 0; d0 < hd; d0 += N) {
        hn::Vec<decltype(df)> v[kN];
        for (int64_t i = 0; i < N; ++i) {
          v[i] = j0 + i < a.n_kv ? hn::LoadU(df, a.k + (j0 + i) * a.kv_stride + g * hd + d0)
                                 : hn::Zero(df);
        }
        TransposeTile(df, v);
        float* dst = kt + g * hd * npad + PanelOffset(hd, j0, d0);
        for (int64_t c = 0; c < N; ++c) hn::StoreU(v[c], df, dst + c * kAttnLanes);
      }
#endif
}

// Items [begin, end): item = pair * n_head + head, pair = queries 2 * pair and 2 * pair + 1 (when
// it exists). p holds 2 * n_kv_pad floats.
void AttendRange(const AttentionArgs& a, const AttentionPrep& prep, int64_t begin, int64_t end,
                 float* HWY_RESTRICT p) {
  for (int64_t it = begin; it < end; ++it) {
    const int64_t pair = it / a.n_head, h = it % a.n_head;
    const int64_t rows[2] = {2 * pair, 2 * pair + 1};
    if (rows[1] < a.n_q) {
      AttendQueries<2>(a, prep, rows, h, p);
    } else {
      AttendQueries<1>(a, prep, rows, h, p);
    }
  }
}

}  // namespace sculpt::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sculpt::kernels {
HWY_EXPORT(AttendRange);
HWY_EXPORT(FillKeyPanels);
void FillKeyPanelsSimd(const AttentionArgs& a, int64_t n_kv_pad, float* kt) {
  HWY_DYNAMIC_DISPATCH(FillKeyPanels)(a, n_kv_pad, kt);
}
void AttendSimd(const AttentionArgs& a, const AttentionPrep& prep, int64_t begin, int64_t end,
                float* scratch) {
  HWY_DYNAMIC_DISPATCH(AttendRange)(a, prep, begin, end, scratch);
}
}  // namespace sculpt::kernels
#endif
