// Static work partitioning over output rows/columns. The partition of items into chunks does
// not depend on the thread count, and small problems never fork (OpenMP barriers on 2-vCPU
// machines sometimes stall for milliseconds).
#pragma once

#include <cstdint>

#include "kernels/kernels.h"  // Threads()

namespace sculpt::kernels {

// Runs fn(begin, end) over [0, n) in chunks of `chunk` items; chunks are spread over threads
// when the total work (n * cost_per_item) is large enough to pay for a fork.
template <typename Fn>
void ParallelChunks(int64_t n, int64_t chunk, double cost_per_item, const Fn& fn) {
  const int64_t n_chunks = (n + chunk - 1) / chunk;
  const bool fork = Threads() > 1 && n_chunks > 1 && n * cost_per_item > 2e5;
#pragma omp parallel for schedule(static) num_threads(Threads()) if (fork)
  for (int64_t c = 0; c < n_chunks; ++c) {
    const int64_t begin = c * chunk;
    const int64_t end = begin + chunk < n ? begin + chunk : n;
    fn(begin, end);
  }
}

}  // namespace sculpt::kernels
