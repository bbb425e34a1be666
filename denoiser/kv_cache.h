// Keys and values of the tokens a sequence has already run, per layer, in float32: values as rows,
// keys in the panels attention reads (kernels::StoreKeyPanels).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/check.h"
#include "kernels/kernels.h"

namespace sculpt {

class KVCache {
 public:
  KVCache() = default;
  KVCache(int64_t n_layer, int64_t capacity, int64_t n_head_kv, int64_t head_dim)
      : n_layer_(n_layer), capacity_(capacity), n_head_kv_(n_head_kv), head_dim_(head_dim),
        panel_keys_((capacity + kernels::kKeyPanel - 1) / kernels::kKeyPanel * kernels::kKeyPanel),
        k_(static_cast<size_t>(n_layer * panel_keys_ * n_head_kv * head_dim)),
        v_(static_cast<size_t>(n_layer * capacity * n_head_kv * head_dim)),
        pos_(static_cast<size_t>(capacity)) {}

  int64_t size() const { return size_; }
  int64_t capacity() const { return capacity_; }
  int64_t kv_dim() const { return n_head_kv_ * head_dim_; }
  void Clear() { size_ = 0; }
  // Drops every entry from `n` on (e.g. to re-run a diffusion block over a cached prefix).
  void Truncate(int64_t n) {
    SCULPT_CHECK(n >= 0 && n <= size_);
    size_ = n;
  }

  // Stores n rows of keys and values ([n, kv_dim] each) as rows [row, row + n) of a layer.
  void Store(int64_t layer, int64_t row, const float* k, const float* v, int64_t n) {
    SCULPT_CHECK(row >= 0 && row + n <= capacity_);
    kernels::StoreKeyPanels(k, n, kv_dim(), row, n_head_kv_, head_dim_, panel_keys_,
                            &k_[layer * panel_keys_ * kv_dim()]);
    std::memcpy(&v_[(layer * capacity_ + row) * kv_dim()], v, sizeof(float) * n * kv_dim());
  }
  // A layer's keys in attention's panel form (kernels::StoreKeyPanels), panel_keys() keys per kv
  // head: kept so, a decode step reads them as they are instead of transposing every cached key.
  const float* key_panels(int64_t layer) const { return &k_[layer * panel_keys_ * kv_dim()]; }
  int64_t panel_keys() const { return panel_keys_; }
  const float* v(int64_t layer, int64_t row) const {
    return &v_[(layer * capacity_ + row) * kv_dim()];
  }
  int32_t* positions() { return pos_.data(); }
  // Called by the denoiser once every layer holds the n new rows.
  void Commit(int64_t n) {
    SCULPT_CHECK(size_ + n <= capacity_);
    size_ += n;
  }

 private:
  int64_t n_layer_ = 0, capacity_ = 0, n_head_kv_ = 0, head_dim_ = 0, panel_keys_ = 0, size_ = 0;
  std::vector<float> k_;   // [n_layer][n_head_kv][panel_keys / kKeyPanel][head_dim][kKeyPanel]
  std::vector<float> v_;   // [n_layer, capacity, kv_dim]
  std::vector<int32_t> pos_;  // [capacity] position of each stored row
};

}  // namespace sculpt
