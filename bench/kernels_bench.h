// `sculpt bench kernels`: packed GEMM and quantized GEMV against the machine's measured FMA peak and
// memory bandwidth, and against OpenBLAS and Eigen on the same shapes, all in one run.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace sculpt::bench {

struct KernelBenchOptions {
  int threads = 1;
  bool quick = false;               // tiny shapes only (a smoke run)
  std::vector<std::string> models;  // end-to-end runs: deterministic vs --kernels blas
};

// OpenBLAS, the baseline every GEMM figure is compared with, can be opened (else why not); call
// before RunKernelBench.
Status KernelBenchReady();
// {"cpu", "threads", "peak_gflops" (the higher of two probes, "peak_gflops_probes": first, last),
//  "bandwidth_gbs", "gemm": [...], "gemv": [...], "end_to_end": [...]}
nlohmann::json RunKernelBench(const KernelBenchOptions& options);
// The same as a human-readable table.
std::string FormatKernelBench(const nlohmann::json& result);

}  // namespace sculpt::bench
