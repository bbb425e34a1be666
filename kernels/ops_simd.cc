// Highway body of SwiGlu (kernels/ops.cc; SiluMul in kernels/exp.h is the scalar twin, operation
// for operation).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <cstdint>

#include "kernels/exp_simd-inl.h"

HWY_BEFORE_NAMESPACE();
namespace sculpt::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void SwiGluRange(const float* gate, const float* up, int64_t n,  // out may alias gate
                 float* out) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto one = hn::Set(df, 1.0f);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto g = hn::LoadU(df, gate + i);
    const auto e = ExpNonPositiveV(df, hn::Neg(hn::Abs(g)));
    const auto den = hn::Add(one, e);
    const auto pos = hn::Div(g, den);
    const auto neg = hn::Div(hn::Mul(g, e), den);
    const auto s = hn::IfThenElse(hn::Ge(g, hn::Zero(df)), pos, neg);
    hn::StoreU(hn::Mul(s, hn::LoadU(df, up + i)), df, out + i);
  }
  for (; i < n; ++i) out[i] = SiluMul(gate[i], up[i]);
}

}  // namespace sculpt::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sculpt::kernels {
HWY_EXPORT(SwiGluRange);
void SwiGluSimd(const float* gate, const float* up, int64_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(SwiGluRange)(gate, up, n, out);
}
}  // namespace sculpt::kernels
#endif
