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
// Read bandwidth of a buffer far larger than the caches (GB/s).
double MeasureBandwidthGbs(int threads);

}  // namespace sculpt::bench
