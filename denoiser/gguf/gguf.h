// GGUF v2/v3 reader: memory-mapped, validated, never reads outside the mapping.
// Layout (ggml/docs/gguf.md): header {magic "GGUF", u32 version, u64 n_tensors, u64 n_kv},
// n_kv metadata pairs {string key, u32 type, value}, n_tensors tensor infos {string name,
// u32 n_dims, u64 ne[n_dims], u32 type, u64 offset}, padding to `general.alignment` (default 32),
// then the tensor data section; each tensor's offset is relative to that section.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "kernels/quant.h"

namespace sculpt::gguf {

enum class ValueType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};
std::string_view ValueTypeName(ValueType t);

// One metadata value. Strings point into the mapping. Arrays (possibly nested) hold items.
struct Value {
  ValueType type = ValueType::kUint8;
  ValueType elem_type = ValueType::kUint8;  // arrays only
  uint64_t u = 0;     // unsigned integers and bool
  int64_t i = 0;      // signed integers
  double f = 0.0;     // floats
  std::string_view str;
  std::vector<Value> items;

  bool IsInteger() const;
  bool IsFloat() const { return type == ValueType::kFloat32 || type == ValueType::kFloat64; }
  // Integer value of any integer type; nullopt for other types or when it does not fit.
  std::optional<int64_t> AsInt() const;
  // Numeric value of any integer or float type.
  std::optional<double> AsDouble() const;
  // Human-readable rendering (arrays abbreviated after `max_items`).
  std::string ToString(size_t max_items = 8) const;
};

struct TensorInfo {
  std::string_view name;
  int n_dims = 0;
  std::array<int64_t, 4> ne = {1, 1, 1, 1};  // ggml order: ne[0] is the contiguous dimension
  uint32_t type_id = 0;
  kernels::GgmlType type = kernels::GgmlType::kF32;
  uint64_t offset = 0;       // relative to the data section
  uint64_t n_bytes = 0;
  int64_t n_elements = 0;
  const uint8_t* data = nullptr;  // inside the mapping
};

// Read-only bytes of a whole file: an mmap of a path, or a borrowed buffer (tests, fuzzing).
class Bytes {
 public:
  virtual ~Bytes() = default;
  virtual std::span<const uint8_t> span() const = 0;
};

class File {
 public:
  static StatusOr<File> Open(const std::string& path);
  // Parses a borrowed buffer, which must outlive the File.
  static StatusOr<File> FromBuffer(std::span<const uint8_t> bytes);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return bytes_->span().size(); }
  uint64_t data_offset() const { return data_offset_; }
  // Offset of the first tensor info (= end of the metadata section).
  uint64_t tensor_info_offset() const { return tensor_info_offset_; }

  const std::vector<std::pair<std::string_view, Value>>& metadata() const { return kv_; }
  const Value* Find(std::string_view key) const;
  // Typed getters that name the key and the problem in their errors.
  StatusOr<std::string_view> GetString(std::string_view key) const;
  StatusOr<int64_t> GetInt(std::string_view key) const;
  StatusOr<double> GetDouble(std::string_view key) const;
  StatusOr<bool> GetBool(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* FindTensor(std::string_view name) const;


 private:
  static StatusOr<File> Parse(std::shared_ptr<const Bytes> bytes);

  std::shared_ptr<const Bytes> bytes_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  uint64_t tensor_info_offset_ = 0;
  std::vector<std::pair<std::string_view, Value>> kv_;
  std::unordered_map<std::string_view, size_t> kv_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
};


}  // namespace sculpt::gguf
