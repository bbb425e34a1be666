// Highway body of Attention (kernels/attention.cc explains the arithmetic; AttendScalar there is
// the twin). Scores: keys across lanes, one MulAdd chain over d per key (four key vectors at a time
// for independent chains). Output: head dimensions across lanes, one MulAdd chain over the keys.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <cmath>
#include <limits>

#include "kernels/attention_internal.h"
#include "kernels/exp.h"

HWY_BEFORE_NAMESPACE();
namespace sculpt::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D, class V = hn::Vec<D>>
HWY_INLINE V ExpNonPositiveV(D d, V x) {
  const hn::RebindToSigned<D> di;
  const auto keep = hn::Ge(x, hn::Set(d, kExpMin));  // false for -inf and NaN too
  x = hn::IfThenElse(keep, x, hn::Zero(d));
  const V n = hn::Round(hn::Mul(x, hn::Set(d, kLog2e)));
  V r = hn::MulAdd(n, hn::Set(d, -kLn2Hi), x);
  r = hn::MulAdd(n, hn::Set(d, -kLn2Lo), r);
  V p = hn::Set(d, kExpP[0]);
  for (int i = 1; i < 6; ++i) p = hn::MulAdd(p, r, hn::Set(d, kExpP[i]));
  const V r2 = hn::Mul(r, r);
  const V y = hn::Add(hn::MulAdd(p, r2, r), hn::Set(d, 1.0f));
  const auto bits = hn::ShiftLeft<23>(hn::Add(hn::ConvertTo(di, n), hn::Set(di, 127)));
  return hn::IfThenElseZero(keep, hn::Mul(y, hn::BitCast(d, bits)));
}

void AttendRange(const AttentionArgs& a, const AttentionPrep& prep, int64_t begin, int64_t end,
                 float* HWY_RESTRICT p) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  using V = hn::Vec<decltype(df)>;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t hd = a.head_dim, npad = prep.n_kv_pad;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const V neg_inf = hn::Set(df, -std::numeric_limits<float>::infinity());
  for (int64_t it = begin; it < end; ++it) {
    const int64_t i = it / a.n_head, h = it % a.n_head;
    const int64_t g = h / (a.n_head / a.n_head_kv);
    const float* HWY_RESTRICT q = a.q + i * a.q_stride + h * hd;
    float* HWY_RESTRICT out = a.out + i * a.out_stride + h * hd;
    const float* HWY_RESTRICT kt = prep.kt.data() + g * hd * npad;
    const auto qv = hn::Set(di, VisibilityKey(a.mode, a.block_size, a.block_origin, a.q_pos[i]));
    // Scores, four vectors of keys per pass.
    V vmax = neg_inf;
    int64_t j = 0;
    auto finish = [&](V dot, int64_t j0) {
      const auto hidden = hn::Lt(qv, hn::LoadU(di, prep.key_vis.data() + j0));
      const V s = hn::IfThenElse(hn::RebindMask(df, hidden), neg_inf, hn::Mul(dot, hn::Set(df, scale)));
      hn::StoreU(s, df, p + j0);
      vmax = hn::Max(vmax, s);
    };
    for (; j + 4 * N <= npad; j += 4 * N) {
      V d0 = hn::Zero(df), d1 = d0, d2 = d0, d3 = d0;
      for (int64_t d = 0; d < hd; ++d) {
        const V qd = hn::Set(df, q[d]);
        const float* row = kt + d * npad + j;
        d0 = hn::MulAdd(qd, hn::LoadU(df, row), d0);
        d1 = hn::MulAdd(qd, hn::LoadU(df, row + N), d1);
        d2 = hn::MulAdd(qd, hn::LoadU(df, row + 2 * N), d2);
        d3 = hn::MulAdd(qd, hn::LoadU(df, row + 3 * N), d3);
      }
      finish(d0, j);
      finish(d1, j + N);
      finish(d2, j + 2 * N);
      finish(d3, j + 3 * N);
    }
    for (; j < npad; j += N) {
      V d0 = hn::Zero(df);
      for (int64_t d = 0; d < hd; ++d) d0 = hn::MulAdd(hn::Set(df, q[d]), hn::LoadU(df, kt + d * npad + j), d0);
      finish(d0, j);
    }
    const float max_score = hn::GetLane(hn::MaxOfLanes(df, vmax));
    for (int64_t d = 0; d < hd; d += N) hn::StoreU(hn::Zero(df), df, out + d);
    if (max_score == -std::numeric_limits<float>::infinity()) continue;  // no visible key
    // Probabilities and the 16 lane partial sums.
    HWY_ALIGN float lanes[kAttnLanes];
    const int64_t per_block = kAttnLanes / N;
    V acc[kAttnLanes];
    for (int64_t v = 0; v < per_block; ++v) acc[v] = hn::Zero(df);
    const V vm = hn::Set(df, max_score);
    for (j = 0; j < npad; j += kAttnLanes) {
      for (int64_t v = 0; v < per_block; ++v) {
        const V e = ExpNonPositiveV(df, hn::Sub(hn::LoadU(df, p + j + v * N), vm));
        hn::StoreU(e, df, p + j + v * N);
        acc[v] = hn::Add(acc[v], e);
      }
    }
    for (int64_t v = 0; v < per_block; ++v) hn::StoreU(acc[v], df, lanes + v * N);
    const float inv = 1.0f / LaneTreeSum(lanes);
    // Output: chains over the visible keys, head dimensions across lanes (up to 8 vectors at once).
    for (int64_t d0 = 0; d0 < hd; d0 += 8 * N) {
      const int64_t nv = std::min<int64_t>(8, (hd - d0) / N);
      V o[8];
      for (int64_t v = 0; v < nv; ++v) o[v] = hn::Zero(df);
      for (int64_t k = 0; k < a.n_kv; ++k) {
        if (p[k] == 0.0f) continue;
        const V pk = hn::Set(df, p[k]);
        const float* HWY_RESTRICT vr = a.v + k * a.kv_stride + g * hd + d0;
        for (int64_t v = 0; v < nv; ++v) o[v] = hn::MulAdd(pk, hn::LoadU(df, vr + v * N), o[v]);
      }
      const V vinv = hn::Set(df, inv);
      for (int64_t v = 0; v < nv; ++v) hn::StoreU(hn::Mul(o[v], vinv), df, out + d0 + v * N);
    }
  }
}

}  // namespace sculpt::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sculpt::kernels {
HWY_EXPORT(AttendRange);
void AttendSimd(const AttentionArgs& a, const AttentionPrep& prep, int64_t begin, int64_t end,
                float* scratch) {
  HWY_DYNAMIC_DISPATCH(AttendRange)(a, prep, begin, end, scratch);
}
}  // namespace sculpt::kernels
#endif
