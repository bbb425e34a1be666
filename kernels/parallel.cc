// The worker pool behind RunChunks (kernels/parallel.h).
//
// A job is published by bumping `generation_`; each worker spins on it (then sleeps on a condition
// variable after ~2 ms without work, so an idle process does not burn its cores), claims chunks
// from `next_` until none is left and decrements `pending_`; the caller claims chunks too, then
// spins until `pending_` is 0.
#include "kernels/parallel.h"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace sculpt::kernels {
namespace {

inline void Pause() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Cores this process may run on (its affinity mask, as taskset sets it).
int UsableCores() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

thread_local bool t_in_job = false;  // nested calls run on their caller

// `generation_` counts jobs in its high bits and holds the job's thread count in the low 8, so a
// worker learns from one load whether it takes part. A worker that takes part in job g gates the
// next job (the caller waits for it), so it cannot miss g; one that does not may skip over it.
class Pool {
 public:
  static constexpr int kMaxThreads = 255;

  // Runs the job if the pool is free; false when another caller holds it.
  bool TryRun(int threads, int64_t n_chunks, void (*body)(void*, int64_t), void* ctx) {
    if (busy_.exchange(true, std::memory_order_acquire)) return false;
    Grow(threads - 1);
    n_chunks_ = n_chunks;
    body_ = body;
    ctx_ = ctx;
    pending_.store(threads - 1, std::memory_order_relaxed);
    next_.store(0, std::memory_order_relaxed);
    const uint64_t g = generation_.load(std::memory_order_relaxed);
    // publishes the fields above to the workers that load this generation
    const uint64_t next = ((g >> 8) + 1) << 8 | static_cast<uint64_t>(threads);
    generation_.fetch_add(next - g, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      { const std::lock_guard<std::mutex> lock(mu_); }  // a sleeper is either waiting or sees it
      cv_.notify_all();
    }
    RunShare();
    for (int i = 0; pending_.load(std::memory_order_acquire) != 0; ++i) Wait(i);
    busy_.store(false, std::memory_order_release);
    return true;
  }

 private:
  // Claims chunks until none is left.
  void RunShare() {
    t_in_job = true;
    for (int64_t c; (c = next_.fetch_add(1, std::memory_order_relaxed)) < n_chunks_;) {
      body_(ctx_, c);
    }
    t_in_job = false;
  }

  // One round of a spin: with more threads than cores, a thread being waited for may need this
  // core, so after a few rounds it is yielded.
  void Wait(int round) const {
    if (round >= 64 && oversubscribed_.load(std::memory_order_relaxed)) {
      std::this_thread::yield();
    } else {
      Pause();
    }
  }

  // Starts workers until there are n (only the caller that holds `busy_` gets here, before it
  // publishes the job: new workers start from the current generation and see the job).
  void Grow(int n) {
    if (static_cast<int>(workers_.size()) >= n) return;
    while (static_cast<int>(workers_.size()) < n) {
      const int index = static_cast<int>(workers_.size()) + 1;
      const uint64_t seen = generation_.load(std::memory_order_relaxed);
      workers_.emplace_back([this, index, seen] { Work(index, seen); });
      workers_.back().detach();  // the pool lives until the process ends
    }
    if (static_cast<int>(workers_.size()) + 1 > UsableCores()) {
      oversubscribed_.store(true, std::memory_order_relaxed);
    }
  }

  // Spins on `generation_` for about 2 ms, then sleeps until it changes; returns the new value.
  uint64_t Next(uint64_t seen) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0;; ++i) {
      const uint64_t g = generation_.load(std::memory_order_acquire);
      if (g != seen) return g;
      Wait(i);
      const auto idle = std::chrono::milliseconds(2);
      if ((i & 1023) == 1023 && std::chrono::steady_clock::now() - start > idle) {
        std::unique_lock<std::mutex> lock(mu_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        cv_.wait(lock, [&] { return generation_.load(std::memory_order_seq_cst) != seen; });
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
      }
    }
  }

  void Work(int index, uint64_t seen) {
    for (;;) {
      seen = Next(seen);
      const int threads = static_cast<int>(seen & 0xFF);
      if (index < threads) {
        RunShare();
        pending_.fetch_sub(1, std::memory_order_release);
      }
    }
  }

  std::atomic<bool> busy_{false}, oversubscribed_{false};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0}, sleepers_{0};
  alignas(64) std::atomic<int64_t> next_{0};  // the next chunk to claim
  // the job: written by the caller before it publishes a generation, read by the workers that
  // take part in it (the caller writes the next job only after they are done)
  int64_t n_chunks_ = 0;
  void (*body_)(void*, int64_t) = nullptr;
  void* ctx_ = nullptr;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
};

// The pool; replaced in a child process after fork(), which inherits the pool's state but none of
// its worker threads (a job there would wait forever for them). The old pool is left as it is.
std::atomic<Pool*> g_pool{nullptr};
std::once_flag g_pool_once;

Pool* ThePool() {
  std::call_once(g_pool_once, [] {
    g_pool.store(new Pool, std::memory_order_release);  // never destroyed: detached workers may
                                                       // still spin at exit
    pthread_atfork(nullptr, nullptr, [] { g_pool.store(new Pool, std::memory_order_release); });
  });
  return g_pool.load(std::memory_order_acquire);
}

}  // namespace

void RunChunks(int threads, int64_t n_chunks, void (*body)(void* ctx, int64_t c), void* ctx) {
  if (threads > n_chunks) threads = static_cast<int>(n_chunks);
  if (threads > Pool::kMaxThreads) threads = Pool::kMaxThreads;
  if (threads >= 2 && !t_in_job) {
    if (ThePool()->TryRun(threads, n_chunks, body, ctx)) return;
  }
  for (int64_t c = 0; c < n_chunks; ++c) body(ctx, c);
}

}  // namespace sculpt::kernels
