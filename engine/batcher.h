// Step-level continuous batching: requests running on their own threads call Forward() once per
// denoising (or decoding) step; the batcher merges the calls that arrive together into one
// denoiser batch and hands every caller its own logits. Requests join and leave between steps.
//
// Because the kernels are batch-invariant (issue 5), a request's logits - and so its tokens - are
// bitwise the same as when it runs alone, whatever it was batched with.
//
// Policy: a call waits until every active request (Join/Leave bracket a request) has submitted
// its step, or until `window` has passed since the oldest pending call, then one caller runs the
// whole batch. A batch holds at most max_rows canvas rows (further calls wait for the next batch).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "base/status.h"
#include "denoiser/denoiser.h"

namespace sculpt {

struct BatcherStats {
  int64_t batches = 0;         // denoiser calls
  int64_t calls = 0;           // Forward() calls merged into them
  int64_t max_batch_calls = 0; // the most calls one batch held
};

class StepBatcher : public ForwardRunner {
 public:
  explicit StepBatcher(Denoiser& denoiser,
                       std::chrono::microseconds window = std::chrono::microseconds(3000),
                       int64_t max_rows = 8192)
      : denoiser_(denoiser), window_(window), max_rows_(max_rows) {}

  // Thread-safe; blocks until the caller's batch has run.
  Status Forward(std::span<const SequenceInput> batch, Logits* out) override;

  // A request that will call Forward() (so that a batch waits for it) / that will not any more.
  void Join();
  void Leave();

  BatcherStats stats() const;

 private:
  struct Pending {
    std::span<const SequenceInput> seqs;
    Logits* out = nullptr;
    int64_t rows = 0;  // canvas rows
    Status status;
    bool done = false;
  };
  // Takes the calls that fit one batch off the queue (lock held).
  std::vector<Pending*> TakeBatch();
  void RunBatch(const std::vector<Pending*>& batch);

  Denoiser& denoiser_;
  const std::chrono::microseconds window_;
  const int64_t max_rows_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending*> queue_;
  std::chrono::steady_clock::time_point oldest_;
  int64_t active_ = 0;
  bool running_ = false;
  BatcherStats stats_;
  // Reused across batches (only the running caller touches them).
  std::vector<SequenceInput> merged_;
  Logits logits_;
};

// Join() on construction, Leave() on destruction; a no-op without a batcher.
class BatcherSeat {
 public:
  explicit BatcherSeat(StepBatcher* b) : b_(b) {
    if (b_) b_->Join();
  }
  ~BatcherSeat() {
    if (b_) b_->Leave();
  }
  BatcherSeat(const BatcherSeat&) = delete;
  BatcherSeat& operator=(const BatcherSeat&) = delete;

 private:
  StepBatcher* b_;
};

}  // namespace sculpt
