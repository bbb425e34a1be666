// Aligned, growable float buffers for activations (STYLE.md rule 7: sized once, reused).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace sculpt {

inline constexpr size_t kAlignment = 64;  // one cache line, one AVX-512 vector
inline constexpr size_t kHugePage = size_t{2} << 20;
inline constexpr size_t kHugeFrom = size_t{8} << 20;  // buffers from this size use huge pages

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
    // Large buffers (packed weights) are aligned to 2 MiB and offered to the kernel as huge
    // pages: streaming a matrix larger than the TLB's reach then walks no page tables.
    const size_t align = n * sizeof(T) >= kHugeFrom ? kHugePage : kAlignment;
    size_t bytes = (n * sizeof(T) + align - 1) / align * align;
    void* p = std::aligned_alloc(align, bytes);
    if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == kHugePage) madvise(p, bytes, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
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
