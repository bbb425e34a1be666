#include "denoiser/gguf/writer.h"

#include <cstring>

#include "base/file_util.h"

namespace sculpt::gguf {

namespace {

template <typename T>
void Put(std::vector<uint8_t>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

void PutString(std::vector<uint8_t>& out, std::string_view s) {
  Put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void PutValue(std::vector<uint8_t>& out, const Value& v) {
  switch (v.type) {
    case ValueType::kUint8: Put<uint8_t>(out, static_cast<uint8_t>(v.u)); break;
    case ValueType::kInt8: Put<int8_t>(out, static_cast<int8_t>(v.i)); break;
    case ValueType::kUint16: Put<uint16_t>(out, static_cast<uint16_t>(v.u)); break;
    case ValueType::kInt16: Put<int16_t>(out, static_cast<int16_t>(v.i)); break;
    case ValueType::kUint32: Put<uint32_t>(out, static_cast<uint32_t>(v.u)); break;
    case ValueType::kInt32: Put<int32_t>(out, static_cast<int32_t>(v.i)); break;
    case ValueType::kUint64: Put<uint64_t>(out, v.u); break;
    case ValueType::kInt64: Put<int64_t>(out, v.i); break;
    case ValueType::kFloat32: Put<float>(out, static_cast<float>(v.f)); break;
    case ValueType::kFloat64: Put<double>(out, v.f); break;
    case ValueType::kBool: Put<uint8_t>(out, v.u ? 1 : 0); break;
    case ValueType::kString: PutString(out, v.str); break;
    case ValueType::kArray:
      Put<uint32_t>(out, static_cast<uint32_t>(v.elem_type));
      Put<uint64_t>(out, v.items.size());
      for (const Value& item : v.items) PutValue(out, item);
      break;
  }
}

}  // namespace

void Writer::SetScalar(std::string key, ValueType t, uint64_t bits) {
  Value v;
  v.type = t;
  v.u = bits;
  v.i = static_cast<int64_t>(bits);
  Set(std::move(key), v);
}

void Writer::SetF32(std::string key, float f) {
  Value v;
  v.type = ValueType::kFloat32;
  v.f = f;
  Set(std::move(key), v);
}

void Writer::SetString(std::string key, std::string value) {
  Value v;
  v.type = ValueType::kString;
  v.str = value;
  Set(std::move(key), v);
}

void Writer::Set(std::string key, const Value& v) {
  std::vector<uint8_t> enc;
  Put<uint32_t>(enc, static_cast<uint32_t>(v.type));
  PutValue(enc, v);
  for (auto& [k, e] : kv_) {
    if (k == key) {
      e = std::move(enc);
      return;
    }
  }
  kv_.emplace_back(std::move(key), std::move(enc));
}

Value Writer::StringArray(const std::vector<std::string>& items, std::deque<std::string>* pool) {
  Value v;
  v.type = ValueType::kArray;
  v.elem_type = ValueType::kString;
  v.items.resize(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    pool->push_back(items[i]);
    v.items[i].type = ValueType::kString;
    v.items[i].str = pool->back();
  }
  return v;
}

void Writer::AddTensor(std::string name, kernels::GgmlType type, std::vector<int64_t> ne,
                       std::span<const uint8_t> data) {
  tensors_.push_back({std::move(name), type, std::move(ne), {data.begin(), data.end()}});
}

std::vector<uint8_t> Writer::Serialize() const {
  std::vector<uint8_t> out;
  Put<uint32_t>(out, 0x46554747);
  Put<uint32_t>(out, 3);
  Put<uint64_t>(out, tensors_.size());
  Put<uint64_t>(out, kv_.size());
  for (const auto& [key, enc] : kv_) {
    PutString(out, key);
    out.insert(out.end(), enc.begin(), enc.end());
  }
  auto align = [this](uint64_t x) { return (x + alignment_ - 1) / alignment_ * alignment_; };
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    PutString(out, t.name);
    Put<uint32_t>(out, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) Put<uint64_t>(out, static_cast<uint64_t>(d));
    Put<uint32_t>(out, static_cast<uint32_t>(t.type));
    Put<uint64_t>(out, offset);
    offset = align(offset + t.data.size());
  }
  if (tensors_.empty()) return out;  // no data section
  out.resize(align(out.size()), 0);
  const size_t data_start = out.size();
  offset = 0;
  for (const Tensor& t : tensors_) {
    out.resize(data_start + offset, 0);
    out.insert(out.end(), t.data.begin(), t.data.end());
    offset = align(offset + t.data.size());
  }
  out.resize(data_start + offset, 0);
  return out;
}

Status Writer::WriteFile(const std::string& path) const {
  const std::vector<uint8_t> bytes = Serialize();
  return WriteFilesAtomically(
      {{path, std::span<const char>(reinterpret_cast<const char*>(bytes.data()), bytes.size())}});
}

}  // namespace sculpt::gguf
