// ExpNonPositiveV: the Highway version of ExpNonPositive (kernels/exp.h), the same operations in
// the same order, so every target gives the scalar twin's bits. Included once per target (after
// hwy/foreach_target.h and hwy/highway.h), hence the toggling guard.
#if defined(SCULPT_KERNELS_EXP_SIMD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SCULPT_KERNELS_EXP_SIMD_INL_H_
#undef SCULPT_KERNELS_EXP_SIMD_INL_H_
#else
#define SCULPT_KERNELS_EXP_SIMD_INL_H_
#endif

#include "hwy/highway.h"
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

}  // namespace sculpt::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // SCULPT_KERNELS_EXP_SIMD_INL_H_
