// GGUF v3 writer: the project's own, used by tests (synthetic and malformed files) and by the
// tools that export models. Metadata keeps insertion order; tensors are aligned to `alignment`.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "denoiser/gguf/gguf.h"

namespace sculpt::gguf {

class Writer {
 public:
  explicit Writer(uint32_t alignment = 32) : alignment_(alignment) {}

  // Scalars and strings.
  void SetString(std::string key, std::string value);
  void SetU32(std::string key, uint32_t v) { SetScalar(std::move(key), ValueType::kUint32, v); }
  void SetI32(std::string key, int32_t v) { SetScalar(std::move(key), ValueType::kInt32, v); }
  void SetU64(std::string key, uint64_t v) { SetScalar(std::move(key), ValueType::kUint64, v); }
  void SetF32(std::string key, float v);
  void SetBool(std::string key, bool v) { SetScalar(std::move(key), ValueType::kBool, v ? 1 : 0); }
  // Any value, including arrays (nested too). Strings inside are copied.
  void Set(std::string key, const Value& v);
  static Value StringArray(const std::vector<std::string>& items, std::deque<std::string>* pool);

  void AddTensor(std::string name, kernels::GgmlType type, std::vector<int64_t> ne,
                 std::span<const uint8_t> data);

  std::vector<uint8_t> Serialize() const;
  Status WriteFile(const std::string& path) const;

 private:
  void SetScalar(std::string key, ValueType t, uint64_t bits);

  struct Tensor {
    std::string name;
    kernels::GgmlType type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> data;
  };
  uint32_t alignment_;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> kv_;  // key -> encoded type + value
  std::vector<Tensor> tensors_;
};

}  // namespace sculpt::gguf
