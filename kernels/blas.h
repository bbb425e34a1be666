// OpenBLAS, the non-deterministic reference (--kernels blas, and the baseline of `sculpt bench
// kernels`), opened on first use instead of linked: a linked OpenBLAS starts its worker threads
// when the program loads, and they spin in sched_yield for about 0.1 s of CPU even when no BLAS
// call follows (a 64-token decode with -t 2 took 0.15 s without them, 0.20-0.24 s with them).
#pragma once

#include <cstdint>

#include "base/status.h"

namespace sculpt::kernels {

// Opens the library once ("libopenblas.so.0"); an error says why it is not available.
Status LoadBlas();

// y[m, n] = x[m, k] * w[n, k]^T (row-major, OpenBLAS's sgemm on `threads` threads). LoadBlas()
// must have succeeded.
void BlasSgemmNT(int64_t m, int64_t n, int64_t k, const float* x, const float* w, float* y,
                 int threads);

}  // namespace sculpt::kernels
