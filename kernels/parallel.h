// Work split over output rows/columns, run on a small pool of spinning workers. The partition of
// items into chunks does not depend on the thread count (threads only decide who runs a chunk),
// and small problems never fork.
//
// Why not OpenMP: on these 2-vCPU virtual machines an empty `omp parallel for` over two threads
// costs about 3 us (fork and join), and the tiny models' products take 10-40 us. The pool below
// hands a job over through one atomic counter and joins on another: about 0.1 us for an empty job
// (kernels/parallel.cc).
#pragma once

#include <cstdint>

#include "kernels/kernels.h"  // Threads()

namespace sculpt::kernels {

// Runs body(ctx, c) for every chunk c in [0, n_chunks) on up to `threads` threads (the caller is
// one of them). Threads claim chunks one at a time from a shared counter, so a worker that starts
// late or runs on a slow vCPU takes fewer; which thread runs a chunk never changes its result.
// Runs everything on the caller when threads < 2, when called from inside a job (nested), or when
// another thread's job holds the pool (concurrent callers: results are the same, only slower).
void RunChunks(int threads, int64_t n_chunks, void (*body)(void* ctx, int64_t c), void* ctx);

// Whether ParallelChunks(n, chunk, cost_per_item, ...) spreads its chunks over threads: when
// there are several threads and chunks, and the total work (n * cost_per_item) pays for a fork.
inline bool Forks(int64_t n, int64_t chunk, double cost_per_item) {
  return Threads() > 1 && (n + chunk - 1) / chunk > 1 && n * cost_per_item > 2e5;
}

// Runs fn(begin, end) over [0, n) in chunks of `chunk` items, spread over threads when Forks().
template <typename Fn>
void ParallelChunks(int64_t n, int64_t chunk, double cost_per_item, const Fn& fn) {
  const int64_t n_chunks = (n + chunk - 1) / chunk;
  const bool fork = Forks(n, chunk, cost_per_item);
  struct Ctx {
    const Fn* fn;
    int64_t n, chunk;
  } ctx{&fn, n, chunk};
  RunChunks(fork ? Threads() : 1, n_chunks, [](void* p, int64_t c) {
    const Ctx& x = *static_cast<const Ctx*>(p);
    const int64_t begin = c * x.chunk;
    (*x.fn)(begin, begin + x.chunk < x.n ? begin + x.chunk : x.n);
  }, &ctx);
}

}  // namespace sculpt::kernels
