// What the machine can do, measured in the run that reports against it.
#pragma once

#include <string>

namespace sculpt::bench {

// The CPU's model name (/proc/cpuinfo).
std::string CpuName();

// FMA throughput with every thread busy on independent register chains (GFLOP/s, 2 per FMA).
double MeasurePeakGflops(int threads);
// Read bandwidth of a buffer far larger than the caches (GB/s).
double MeasureBandwidthGbs(int threads);

}  // namespace sculpt::bench
