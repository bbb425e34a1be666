#include "engine/batcher.h"

#include <algorithm>

namespace sculpt {

void StepBatcher::Join() {
  std::lock_guard<std::mutex> lk(mu_);
  ++active_;
}

void StepBatcher::Leave() {
  std::lock_guard<std::mutex> lk(mu_);
  --active_;
  cv_.notify_all();  // a batch waiting for this request need not wait any more
}

BatcherStats StepBatcher::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

std::vector<StepBatcher::Pending*> StepBatcher::TakeBatch() {
  std::vector<Pending*> batch;
  int64_t rows = 0;
  size_t n = 0;
  while (n < queue_.size() && (batch.empty() || rows + queue_[n]->rows <= max_rows_)) {
    rows += queue_[n]->rows;
    batch.push_back(queue_[n++]);
  }
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
  return batch;
}

void StepBatcher::RunBatch(const std::vector<Pending*>& batch) {
  merged_.clear();
  for (const Pending* p : batch) merged_.insert(merged_.end(), p->seqs.begin(), p->seqs.end());
  Status st = denoiser_.Forward(merged_, &logits_);
  if (!st.ok() && batch.size() > 1) {
    // One bad call must not fail its batch mates: run each alone to attribute the error.
    for (Pending* p : batch) p->status = denoiser_.Forward(p->seqs, p->out);
    return;
  }
  const int64_t V = logits_.n_vocab;
  int64_t row = 0;
  for (Pending* p : batch) {
    p->status = st;
    if (!st.ok()) continue;
    int64_t n = 0;
    for (const SequenceInput& s : p->seqs) n += static_cast<int64_t>(s.logit_rows.size());
    p->out->rows = n;
    p->out->n_vocab = V;
    p->out->data.assign(logits_.data.begin() + row * V, logits_.data.begin() + (row + n) * V);
    row += n;
  }
}

Status StepBatcher::Forward(std::span<const SequenceInput> seqs, Logits* out) {
  Pending me;
  me.seqs = seqs;
  me.out = out;
  for (const SequenceInput& s : seqs) me.rows += static_cast<int64_t>(s.tokens.size());
  std::unique_lock<std::mutex> lk(mu_);
  if (queue_.empty()) oldest_ = std::chrono::steady_clock::now();
  queue_.push_back(&me);
  cv_.notify_all();
  while (!me.done) {
    if (running_) {
      cv_.wait(lk);
      continue;
    }
    int64_t queued_rows = 0;
    for (const Pending* p : queue_) queued_rows += p->rows;
    const auto deadline = oldest_ + window_;
    const bool all_here = static_cast<int64_t>(queue_.size()) >= active_;
    if (!queue_.empty() &&
        (all_here || queued_rows >= max_rows_ || std::chrono::steady_clock::now() >= deadline)) {
      std::vector<Pending*> batch = TakeBatch();
      running_ = true;
      lk.unlock();
      RunBatch(batch);
      lk.lock();
      running_ = false;
      for (Pending* p : batch) p->done = true;
      ++stats_.batches;
      stats_.calls += static_cast<int64_t>(batch.size());
      stats_.max_batch_calls = std::max<int64_t>(stats_.max_batch_calls, static_cast<int64_t>(batch.size()));
      if (!queue_.empty()) oldest_ = std::chrono::steady_clock::now();
      cv_.notify_all();
      continue;
    }
    if (queue_.empty()) {  // our call is running in another thread's batch
      cv_.wait(lk);
    } else {
      cv_.wait_until(lk, deadline);
    }
  }
  return me.status;
}

}  // namespace sculpt
