// What the machine can do, measured in the run that reports against it.
#pragma once

#include <cstdint>
#include <string>

namespace sculpt::bench {

// The CPU's model name (/proc/cpuinfo).
std::string CpuName();

// FMA throughput with every thread busy on independent register chains (GFLOP/s, 2 per FMA).
double MeasurePeakGflops(int threads);
// `iters` rounds of that loop on each of `threads` threads; returns the flops done (for timing
// the peak alongside a kernel).
double FmaBurst(int threads, int64_t iters);
// Read bandwidth of a buffer far larger than the caches (GB/s): the better of a plain read loop
// and one that prefetches ahead, whose own best figures go to *plain and *prefetched when given.
double MeasureBandwidthGbs(int threads, double* plain = nullptr, double* prefetched = nullptr);
// One pass of that read loop over buf[0, n), plain or prefetching, on `threads` threads (a
// quarter-stream of each thread's share each): for timing the bandwidth in turn with a kernel.
void ReadPass(int threads, const float* buf, size_t n, bool prefetch);

}  // namespace sculpt::bench
