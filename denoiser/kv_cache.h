// Keys and values of the tokens a sequence has already run, per layer, in float32.
#pragma once

#include <cstdint>
#include <vector>

#include "base/check.h"

namespace sculpt {

class KVCache {
 public:
  KVCache() = default;
  KVCache(int64_t n_layer, int64_t capacity, int64_t kv_dim)
      : n_layer_(n_layer), capacity_(capacity), kv_dim_(kv_dim),
        k_(static_cast<size_t>(n_layer * capacity * kv_dim)),
        v_(static_cast<size_t>(n_layer * capacity * kv_dim)),
        pos_(static_cast<size_t>(capacity)) {}

  int64_t size() const { return size_; }
  int64_t capacity() const { return capacity_; }
  int64_t kv_dim() const { return kv_dim_; }
  void Clear() { size_ = 0; }
  // Drops every entry from `n` on (e.g. to re-run a diffusion block over a cached prefix).
  void Truncate(int64_t n) {
    SCULPT_CHECK(n >= 0 && n <= size_);
    size_ = n;
  }

  float* k(int64_t layer, int64_t row) { return &k_[(layer * capacity_ + row) * kv_dim_]; }
  float* v(int64_t layer, int64_t row) { return &v_[(layer * capacity_ + row) * kv_dim_]; }
  int32_t* positions() { return pos_.data(); }
  // Called by the denoiser once every layer holds the n new rows.
  void Commit(int64_t n) {
    SCULPT_CHECK(size_ + n <= capacity_);
    size_ += n;
  }

 private:
  int64_t n_layer_ = 0, capacity_ = 0, kv_dim_ = 0, size_ = 0;
  std::vector<float> k_;   // [n_layer, capacity, kv_dim]
  std::vector<float> v_;   // [n_layer, capacity, kv_dim]
  std::vector<int32_t> pos_;  // [capacity] position of each stored row
};

}  // namespace sculpt
