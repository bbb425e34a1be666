#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bench/machine.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/cache_control.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace sculpt::bench::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Independent accumulators hide the FMA latency (2 pipes x 4 cycles needs 8): 16 where there are
// 32 vector registers, 12 with AVX2's 16 (16 chains, a and b there spilled, and the loop read a
// third of the peak: 68 GFLOP/s on one thread, below the f32 GEMM's 110); returns a value so
// nothing is optimized away.
float FmaLoop(int64_t iters, double* flops) {
  const hn::ScalableTag<float> d;
  using V = decltype(hn::Zero(d));
  constexpr int kChains = HWY_MAX_BYTES >= 64 ? 16 : 12;
  V acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = hn::Set(d, 0.001f * i);
  const V a = hn::Set(d, 0.999999f), b = hn::Set(d, 1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = hn::MulAdd(acc[i], a, b);
  V sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = hn::Add(sum, acc[i]);
  *flops = 2.0 * kChains * static_cast<double>(hn::Lanes(d)) * static_cast<double>(iters);
  return hn::GetLane(sum);
}

// Four independent sequential streams (quarters of the range), so the hardware prefetchers keep
// several misses in flight, as the GEMV kernels do when they advance four tiles together; with
// `prefetch`, each stream also touched 2 KiB ahead, as the int8 GEMV kernels do (on the Zen 5
// machines one thread 1.2-1.35x the plain loop's figure, two 1.3-1.8x): the probe is the better
// of the two, so that a kernel is measured against the bandwidth a read can reach, not the one a
// plain loop happens to get.
float ReadLoop(const float* p, size_t n, bool prefetch) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const size_t q = n / 4 / N * N;
  const float* a = p;
  const float* b = p + q;
  const float* c = p + 2 * q;
  const float* e = p + 3 * q;
  constexpr size_t kAhead = 512;  // floats: 2 KiB
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  for (size_t i = 0; i < q; i += N) {
    if (prefetch && i % 16 == 0 && i + kAhead < q) {  // a line per stream every 64 bytes
      hwy::Prefetch(a + i + kAhead);
      hwy::Prefetch(b + i + kAhead);
      hwy::Prefetch(c + i + kAhead);
      hwy::Prefetch(e + i + kAhead);
    }
    s0 = hn::Add(s0, hn::LoadU(d, a + i));
    s1 = hn::Add(s1, hn::LoadU(d, b + i));
    s2 = hn::Add(s2, hn::LoadU(d, c + i));
    s3 = hn::Add(s3, hn::LoadU(d, e + i));
  }
  return hn::GetLane(hn::Add(hn::Add(s0, s1), hn::Add(s2, s3)));
}

}  // namespace sculpt::bench::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <chrono>
#include <fstream>
#include <vector>

#include "bench/machine.h"
#include "kernels/parallel.h"

namespace sculpt::bench {
HWY_EXPORT(FmaLoop);

std::string CpuName() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}
HWY_EXPORT(ReadLoop);

namespace {
double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

// Both loops below run one chunk per thread on the kernels' pool (kernels/parallel.h), so that
// no second set of threads spins beside it.
double FmaBurst(int threads, int64_t iters) {
  std::vector<double> flops(static_cast<size_t>(threads), 0.0);
  struct Ctx {
    int64_t iters;
    double* flops;
    volatile float sink;
  } ctx{iters, flops.data(), 0.0f};
  kernels::RunChunks(threads, threads, [](void* p, int64_t c) {
    auto& x = *static_cast<Ctx*>(p);
    const float v = HWY_DYNAMIC_DISPATCH(FmaLoop)(x.iters, &x.flops[c]);
    if (c == 0) x.sink = v;
  }, &ctx);
  double total = 0.0;
  for (double f : flops) total += f;
  return total;
}

double MeasurePeakGflops(int threads) {
  double best = 0.0;
  for (int rep = 0; rep < 3; ++rep) {
    const double t0 = Now();
    const double flops = FmaBurst(threads, 20'000'000);
    best = std::max(best, flops / (Now() - t0) / 1e9);
  }
  return best;
}

void ReadPass(int threads, const float* buf, size_t n, bool prefetch) {
  struct Ctx {
    const float* buf;
    size_t chunk;
    bool prefetch;
    volatile float sink;
  } ctx{buf, n / static_cast<size_t>(threads), prefetch, 0.0f};
  kernels::RunChunks(threads, threads, [](void* p, int64_t c) {
    auto& x = *static_cast<Ctx*>(p);
    const float* part = x.buf + x.chunk * static_cast<size_t>(c);
    const float v = HWY_DYNAMIC_DISPATCH(ReadLoop)(part, x.chunk, x.prefetch);
    if (c == 0) x.sink = v;
  }, &ctx);
}

double MeasureBandwidthGbs(int threads, double* plain, double* prefetched) {
  const size_t n = size_t{256} << 20;  // 1 GiB of floats
  std::vector<float> buf(n, 1.0f);
  double best[2] = {0.0, 0.0};
  for (int rep = 0; rep < 6; ++rep) {  // plain and prefetching loops in turn, the best counts
    const double t0 = Now();
    ReadPass(threads, buf.data(), n, rep % 2 == 1);
    const double gbs = static_cast<double>(n) * sizeof(float) / (Now() - t0) / 1e9;
    best[rep % 2] = std::max(best[rep % 2], gbs);
  }
  if (plain) *plain = best[0];
  if (prefetched) *prefetched = best[1];
  return std::max(best[0], best[1]);
}

}  // namespace sculpt::bench
#endif
