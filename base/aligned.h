// Aligned, growable float buffers for activations (STYLE.md rule 7: sized once, reused).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace sculpt {

inline constexpr size_t kAlignment = 64;  // one cache line, one AVX-512 vector

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) { Reserve(n); }

  // Grows the buffer to hold at least n elements; contents are not preserved when it grows.
  void Reserve(size_t n) {
    if (n <= capacity_) return;
    size_t bytes = (n * sizeof(T) + kAlignment - 1) / kAlignment * kAlignment;
    void* p = std::aligned_alloc(kAlignment, bytes);
    if (p == nullptr) throw std::bad_alloc();
    data_.reset(static_cast<T*>(p));
    capacity_ = n;
  }
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  size_t capacity() const { return capacity_; }

 private:
  std::unique_ptr<T, AlignedFree> data_;
  size_t capacity_ = 0;
};

}  // namespace sculpt
