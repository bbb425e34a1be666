#include "denoiser/gguf/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sculpt::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr int kMaxArrayDepth = 8;        // nested arrays deeper than this are rejected
constexpr uint64_t kMaxDims = 4;         // GGML_MAX_DIMS

class MappedFile final : public Bytes {
 public:
  MappedFile(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  ~MappedFile() override { munmap(const_cast<uint8_t*>(p_), n_); }
  std::span<const uint8_t> span() const override { return {p_, n_}; }

 private:
  const uint8_t* p_;
  size_t n_;
};

class BorrowedBytes final : public Bytes {
 public:
  explicit BorrowedBytes(std::span<const uint8_t> s) : s_(s) {}
  std::span<const uint8_t> span() const override { return s_; }

 private:
  std::span<const uint8_t> s_;
};

// Cursor over the file with bounds-checked little-endian reads. Errors name the offset.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> s) : s_(s) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return s_.size() - pos_; }

  template <typename T>
  Status Read(T* out, std::string_view what) {
    if (remaining() < sizeof(T)) {
      return DataLoss("truncated file: {} at offset {} needs {} bytes, file has {}", Printable(what), pos_,
                      sizeof(T), s_.size());
    }
    std::memcpy(out, s_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }

  Status ReadString(std::string_view* out, std::string_view what) {
    const uint64_t at = pos_;
    uint64_t len = 0;
    SCULPT_RETURN_IF_ERROR(Read(&len, what));
    if (len > remaining()) {
      return DataLoss("{} at offset {} has length {} but only {} bytes remain in the file", Printable(what),
                      at, len, remaining());
    }
    *out = std::string_view(reinterpret_cast<const char*>(s_.data() + pos_), len);
    pos_ += len;
    return Status::Ok();
  }

 private:
  std::span<const uint8_t> s_;
  uint64_t pos_ = 0;
};

// Smallest encoded size of one value of a type; bounds array counts before allocating.
uint64_t MinEncodedSize(ValueType t) {
  switch (t) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kBool: return 1;
    case ValueType::kUint16: case ValueType::kInt16: return 2;
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kFloat32: return 4;
    case ValueType::kUint64: case ValueType::kInt64: case ValueType::kFloat64: return 8;
    case ValueType::kString: return 8;
    case ValueType::kArray: return 12;
  }
  return 1;
}

bool ValidType(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::kFloat64); }

Status ReadValue(Reader& r, ValueType type, int depth, std::string_view key, Value* v) {
  v->type = type;
  const uint64_t at = r.pos();
  switch (type) {
    case ValueType::kUint8: { uint8_t x = 0; SCULPT_RETURN_IF_ERROR(r.Read(&x, key)); v->u = x; break; }
    case ValueType::kInt8: { int8_t x = 0; SCULPT_RETURN_IF_ERROR(r.Read(&x, key)); v->i = x; break; }
    case ValueType::kUint16: { uint16_t x = 0; SCULPT_RETURN_IF_ERROR(r.Read(&x, key)); v->u = x; break; }
    case ValueType::kInt16: { int16_t x = 0; SCULPT_RETURN_IF_ERROR(r.Read(&x, key)); v->i = x; break; }
    case ValueType::kUint32: { uint32_t x = 0; SCULPT_RETURN_IF_ERROR(r.Read(&x, key)); v->u = x; break; }
    case ValueType::kInt32: { int32_t x = 0; SCULPT_RETURN_IF_ERROR(r.Read(&x, key)); v->i = x; break; }
    case ValueType::kUint64: SCULPT_RETURN_IF_ERROR(r.Read(&v->u, key)); break;
    case ValueType::kInt64: SCULPT_RETURN_IF_ERROR(r.Read(&v->i, key)); break;
    case ValueType::kFloat32: { float x = 0; SCULPT_RETURN_IF_ERROR(r.Read(&x, key)); v->f = x; break; }
    case ValueType::kFloat64: SCULPT_RETURN_IF_ERROR(r.Read(&v->f, key)); break;
    case ValueType::kBool: {
      uint8_t x = 0;
      SCULPT_RETURN_IF_ERROR(r.Read(&x, key));
      if (x > 1) return DataLoss("metadata '{}' at offset {}: bool value {} is not 0 or 1", Printable(key), at, x);
      v->u = x;
      break;
    }
    case ValueType::kString: SCULPT_RETURN_IF_ERROR(r.ReadString(&v->str, key)); break;
    case ValueType::kArray: {
      if (depth >= kMaxArrayDepth) {
        return DataLoss("metadata '{}' at offset {}: arrays nested deeper than {}", Printable(key), at,
                        kMaxArrayDepth);
      }
      uint32_t et = 0;
      uint64_t count = 0;
      SCULPT_RETURN_IF_ERROR(r.Read(&et, key));
      if (!ValidType(et)) {
        return DataLoss("metadata '{}' at offset {}: unknown array element type {}", Printable(key), at, et);
      }
      SCULPT_RETURN_IF_ERROR(r.Read(&count, key));
      v->elem_type = static_cast<ValueType>(et);
      if (count > r.remaining() / MinEncodedSize(v->elem_type)) {
        return DataLoss("metadata '{}' at offset {}: array of {} elements cannot fit in the {} "
                        "bytes left in the file", Printable(key), at, count, r.remaining());
      }
      v->items.resize(count);
      for (uint64_t k = 0; k < count; ++k) {
        SCULPT_RETURN_IF_ERROR(ReadValue(r, v->elem_type, depth + 1, key, &v->items[k]));
      }
      break;
    }
  }
  return Status::Ok();
}

bool MulOverflows(int64_t a, int64_t b, int64_t* out) { return __builtin_mul_overflow(a, b, out); }

}  // namespace

std::string_view ValueTypeName(ValueType t) {
  static constexpr std::string_view kNames[] = {"u8",  "i8",  "u16",    "i16", "u32",
                                                "i32", "f32", "bool",   "string", "array",
                                                "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return i < std::size(kNames) ? kNames[i] : "?";
}

bool Value::IsInteger() const {
  switch (type) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kUint16:
    case ValueType::kInt16: case ValueType::kUint32: case ValueType::kInt32:
    case ValueType::kUint64: case ValueType::kInt64: return true;
    default: return false;
  }
}

std::optional<int64_t> Value::AsInt() const {
  switch (type) {
    case ValueType::kInt8: case ValueType::kInt16: case ValueType::kInt32:
    case ValueType::kInt64: return i;
    case ValueType::kUint8: case ValueType::kUint16: case ValueType::kUint32: return static_cast<int64_t>(u);
    case ValueType::kUint64:
      if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
      return static_cast<int64_t>(u);
    default: return std::nullopt;
  }
}

std::optional<double> Value::AsDouble() const {
  if (IsFloat()) return f;
  if (auto x = AsInt()) return static_cast<double>(*x);
  return std::nullopt;
}

std::string Value::ToString(size_t max_items) const {
  switch (type) {
    case ValueType::kString: return fmt::format("\"{}\"", Printable(str));
    case ValueType::kBool: return u ? "true" : "false";
    case ValueType::kFloat32: case ValueType::kFloat64: return fmt::format("{}", f);
    case ValueType::kArray: {
      std::string s = fmt::format("[{} x {}]", items.size(), ValueTypeName(elem_type));
      if (!items.empty() && elem_type != ValueType::kArray) {
        s += " {";
        for (size_t k = 0; k < items.size() && k < max_items; ++k) {
          if (k) s += ", ";
          s += items[k].ToString(max_items);
        }
        if (items.size() > max_items) s += ", ...";
        s += "}";
      }
      return s;
    }
    default:
      if (auto x = AsInt()) return fmt::format("{}", *x);
      return fmt::format("{}", u);
  }
}

StatusOr<File> File::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFound("cannot open '{}': {}", path, std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument("'{}' is not a regular file", path);
  }
  if (st.st_size == 0) {
    ::close(fd);
    return DataLoss("'{}' is empty, not a GGUF file", path);
  }
  void* p = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return Internal("cannot map '{}': {}", path, std::strerror(errno));
  auto bytes = std::make_shared<MappedFile>(static_cast<const uint8_t*>(p),
                                            static_cast<size_t>(st.st_size));
  auto file = Parse(std::move(bytes));
  if (!file.ok()) return Status(file.status().code(), path + ": " + file.status().message());
  return file;
}

StatusOr<File> File::FromBuffer(std::span<const uint8_t> bytes) {
  return Parse(std::make_shared<BorrowedBytes>(bytes));
}

StatusOr<File> File::Parse(std::shared_ptr<const Bytes> bytes) {
  File file;
  file.bytes_ = bytes;
  const auto s = bytes->span();
  Reader r(s);
  uint32_t magic = 0;
  SCULPT_RETURN_IF_ERROR(r.Read(&magic, "magic"));
  if (magic != kMagic) {
    return DataLoss("bad magic 0x{:08x} at offset 0: not a GGUF file (expected \"GGUF\")", magic);
  }
  SCULPT_RETURN_IF_ERROR(r.Read(&file.version_, "version"));
  if (file.version_ == 1) {
    return Unimplemented("GGUF version 1 at offset 4 is not supported (only versions 2 and 3)");
  }
  if (file.version_ != 2 && file.version_ != 3) {
    const bool swapped = (file.version_ & 0xFFFF) == 0 && file.version_ != 0;
    return Unimplemented("unsupported GGUF version {} at offset 4{}", file.version_,
                         swapped ? " (a big-endian file?)" : "");
  }
  uint64_t n_tensors = 0, n_kv = 0;
  SCULPT_RETURN_IF_ERROR(r.Read(&n_tensors, "tensor count"));
  SCULPT_RETURN_IF_ERROR(r.Read(&n_kv, "metadata count"));
  // Each metadata pair takes at least 8 + 4 + 1 bytes, each tensor info at least 8 + 4 + 4 + 8.
  if (n_kv > r.remaining() / 13) {
    return DataLoss("metadata count {} at offset 16 cannot fit in a {}-byte file", n_kv, s.size());
  }
  if (n_tensors > r.remaining() / 24) {
    return DataLoss("tensor count {} at offset 8 cannot fit in a {}-byte file", n_tensors, s.size());
  }

  file.kv_.reserve(n_kv);
  for (uint64_t k = 0; k < n_kv; ++k) {
    const uint64_t at = r.pos();
    std::string_view key;
    SCULPT_RETURN_IF_ERROR(r.ReadString(&key, "metadata key"));
    uint32_t type = 0;
    SCULPT_RETURN_IF_ERROR(r.Read(&type, "metadata type"));
    if (!ValidType(type)) {
      return DataLoss("metadata '{}' at offset {}: unknown value type {}", Printable(key), at, type);
    }
    Value v;
    SCULPT_RETURN_IF_ERROR(ReadValue(r, static_cast<ValueType>(type), 0, key, &v));
    if (!file.kv_index_.emplace(key, file.kv_.size()).second) {
      return DataLoss("duplicate metadata key '{}' at offset {}", Printable(key), at);
    }
    file.kv_.emplace_back(key, std::move(v));
  }

  if (const Value* a = file.Find("general.alignment")) {
    const auto al = a->AsInt();
    if (!al || *al <= 0 || (*al & (*al - 1)) != 0 || *al > (1 << 20)) {
      return DataLoss("general.alignment = {} is not a power of two", a->ToString());
    }
    file.alignment_ = static_cast<uint64_t>(*al);
  }

  file.tensor_info_offset_ = r.pos();
  file.tensors_.resize(n_tensors);
  for (uint64_t t = 0; t < n_tensors; ++t) {
    TensorInfo& ti = file.tensors_[t];
    const uint64_t at = r.pos();
    SCULPT_RETURN_IF_ERROR(r.ReadString(&ti.name, "tensor name"));
    uint32_t n_dims = 0;
    SCULPT_RETURN_IF_ERROR(r.Read(&n_dims, "tensor dimension count"));
    if (n_dims == 0 || n_dims > kMaxDims) {
      return DataLoss("tensor '{}' at offset {}: {} dimensions (must be 1 to {})", Printable(ti.name), at,
                      n_dims, kMaxDims);
    }
    ti.n_dims = static_cast<int>(n_dims);
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = 0;
      SCULPT_RETURN_IF_ERROR(r.Read(&ne, "tensor dimension"));
      if (ne == 0 || ne > static_cast<uint64_t>(INT64_MAX) ||
          MulOverflows(n_elements, static_cast<int64_t>(ne), &n_elements)) {
        return DataLoss("tensor '{}' at offset {}: dimension {} = {} is zero or overflows", Printable(ti.name),
                        at, d, ne);
      }
      ti.ne[d] = static_cast<int64_t>(ne);
    }
    ti.n_elements = n_elements;
    SCULPT_RETURN_IF_ERROR(r.Read(&ti.type_id, "tensor type"));
    const auto traits = kernels::TraitsOf(ti.type_id);
    if (!traits) {
      return DataLoss("tensor '{}' at offset {}: type {} is unknown or unsupported", Printable(ti.name), at,
                      kernels::TypeName(ti.type_id));
    }
    ti.type = static_cast<kernels::GgmlType>(ti.type_id);
    if (ti.ne[0] % traits->block_size != 0) {
      return DataLoss("tensor '{}' at offset {}: row length {} is not a multiple of the {} block "
                      "size {}", Printable(ti.name), at, ti.ne[0], traits->name, traits->block_size);
    }
    int64_t n_bytes;
    if (MulOverflows(n_elements / traits->block_size, traits->type_size, &n_bytes)) {
      return DataLoss("tensor '{}' at offset {}: size overflows", Printable(ti.name), at);
    }
    ti.n_bytes = static_cast<uint64_t>(n_bytes);
    SCULPT_RETURN_IF_ERROR(r.Read(&ti.offset, "tensor offset"));
    if (ti.offset % file.alignment_ != 0) {
      return DataLoss("tensor '{}' at offset {}: data offset {} is not aligned to {}", Printable(ti.name), at,
                      ti.offset, file.alignment_);
    }
    if (!file.tensor_index_.emplace(ti.name, t).second) {
      return DataLoss("duplicate tensor name '{}' at offset {}", Printable(ti.name), at);
    }
  }

  // The data section starts at the next multiple of the alignment.
  const uint64_t end_of_infos = r.pos();
  file.data_offset_ = (end_of_infos + file.alignment_ - 1) / file.alignment_ * file.alignment_;
  if (n_tensors > 0 && file.data_offset_ > s.size()) {
    return DataLoss("truncated file: tensor data section would start at offset {} but the file "
                    "has {} bytes", file.data_offset_, s.size());
  }
  const uint64_t data_size = n_tensors > 0 ? s.size() - file.data_offset_ : 0;
  for (TensorInfo& ti : file.tensors_) {
    if (ti.offset > data_size || ti.n_bytes > data_size - ti.offset) {
      return DataLoss("tensor '{}': data [{}, {}) lies outside the {}-byte data section at offset "
                      "{} (truncated file?)", Printable(ti.name), file.data_offset_ + ti.offset,
                      file.data_offset_ + ti.offset + ti.n_bytes, data_size, file.data_offset_);
    }
    ti.data = s.data() + file.data_offset_ + ti.offset;
  }
  return file;
}

const Value* File::Find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const TensorInfo* File::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

StatusOr<std::string_view> File::GetString(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return NotFound("missing required metadata key '{}'", key);
  if (v->type != ValueType::kString) {
    return DataLoss("metadata '{}' has type {}, expected string", Printable(key), ValueTypeName(v->type));
  }
  return v->str;
}

StatusOr<int64_t> File::GetInt(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return NotFound("missing required metadata key '{}'", key);
  auto x = v->AsInt();
  if (!x) {
    return DataLoss("metadata '{}' = {} is not an integer", Printable(key), v->ToString());
  }
  return *x;
}

StatusOr<double> File::GetDouble(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return NotFound("missing required metadata key '{}'", key);
  auto x = v->AsDouble();
  if (!x) return DataLoss("metadata '{}' = {} is not a number", Printable(key), v->ToString());
  return *x;
}

StatusOr<bool> File::GetBool(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) return NotFound("missing required metadata key '{}'", key);
  if (v->type == ValueType::kBool) return v->u != 0;
  if (auto x = v->AsInt()) return *x != 0;
  return DataLoss("metadata '{}' = {} is not a bool", Printable(key), v->ToString());
}

}  // namespace sculpt::gguf
