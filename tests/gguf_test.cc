// GGUF reader and writer: every metadata value type round-trips; every malformed-file class gets
// an error that names the problem and the offset.
#include <cstring>
#include <deque>

#include "denoiser/gguf/gguf.h"
#include "denoiser/gguf/writer.h"
#include "denoiser/model_config.h"
#include "tests/test_util.h"

namespace sculpt::gguf {
namespace {

Value Scalar(ValueType t, int64_t i, double f = 0) {
  Value v;
  v.type = t;
  v.i = i;
  v.u = static_cast<uint64_t>(i);
  v.f = f;
  return v;
}

Value Array(ValueType elem, std::vector<Value> items) {
  Value v;
  v.type = ValueType::kArray;
  v.elem_type = elem;
  v.items = std::move(items);
  return v;
}

Status ParseError(const std::vector<uint8_t>& bytes) {
  auto f = File::FromBuffer(bytes);
  EXPECT_FALSE(f.ok()) << "malformed file was accepted";
  return f.ok() ? Status::Ok() : f.status();
}

std::vector<uint8_t> OneTensorFile(uint32_t alignment = 32) {
  Writer w(alignment);
  w.SetString("general.architecture", "llama");
  const float data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  w.AddTensor("t", kernels::GgmlType::kF32, {8},
              {reinterpret_cast<const uint8_t*>(data), sizeof(data)});
  return w.Serialize();
}

// Offset of field `field_offset` bytes into the first tensor info.
size_t TensorInfoField(const std::vector<uint8_t>& bytes, size_t field_offset) {
  auto f = File::FromBuffer(bytes);
  EXPECT_TRUE(f.ok());
  return f->tensor_info_offset() + field_offset;
}
// For the single 1-D tensor "t": name (8 + 1), n_dims (4), ne[0] (8), type (4), offset (8).
constexpr size_t kNeField = 9 + 4, kTypeField = 9 + 4 + 8, kOffsetField = 9 + 4 + 8 + 4;

template <typename T>
void Poke(std::vector<uint8_t>& b, size_t at, T v) { std::memcpy(b.data() + at, &v, sizeof(T)); }

TEST(Gguf, EveryValueTypeRoundTrips) {
  Writer w;
  std::deque<std::string> pool;
  w.Set("u8", Scalar(ValueType::kUint8, 250));
  w.Set("i8", Scalar(ValueType::kInt8, -100));
  w.Set("u16", Scalar(ValueType::kUint16, 65000));
  w.Set("i16", Scalar(ValueType::kInt16, -32000));
  w.SetU32("u32", 4000000000u);
  w.SetI32("i32", -2000000000);
  w.SetF32("f32", 0.25f);
  w.SetBool("bool", true);
  w.SetString("str", "héllo");
  w.SetU64("u64", 1ull << 60);
  w.Set("i64", Scalar(ValueType::kInt64, -(1ll << 60)));
  w.Set("f64", Scalar(ValueType::kFloat64, 0, 1e-300));
  w.Set("strings", Writer::StringArray({"a", "", "ccc"}, &pool));
  w.Set("nested", Array(ValueType::kArray, {Array(ValueType::kUint16, {Scalar(ValueType::kUint16, 1)}),
                                            Array(ValueType::kUint16, {})}));
  const auto bytes = w.Serialize();
  auto f = File::FromBuffer(bytes);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(*f->Find("u8")->AsInt(), 250);
  EXPECT_EQ(*f->Find("i8")->AsInt(), -100);
  EXPECT_EQ(*f->Find("u16")->AsInt(), 65000);
  EXPECT_EQ(*f->Find("i16")->AsInt(), -32000);
  EXPECT_EQ(*f->GetInt("u32"), 4000000000ll);
  EXPECT_EQ(*f->GetInt("i32"), -2000000000ll);
  EXPECT_EQ(*f->GetDouble("f32"), 0.25);
  EXPECT_TRUE(*f->GetBool("bool"));
  EXPECT_EQ(*f->GetString("str"), "héllo");
  EXPECT_EQ(*f->GetInt("u64"), 1ll << 60);
  EXPECT_EQ(*f->GetInt("i64"), -(1ll << 60));
  EXPECT_EQ(*f->GetDouble("f64"), 1e-300);
  const Value* s = f->Find("strings");
  ASSERT_EQ(s->items.size(), 3u);
  EXPECT_EQ(s->items[2].str, "ccc");
  EXPECT_EQ(s->items[1].str, "");
  const Value* n = f->Find("nested");
  ASSERT_EQ(n->elem_type, ValueType::kArray);
  ASSERT_EQ(n->items.size(), 2u);
  EXPECT_EQ(*n->items[0].items[0].AsInt(), 1);
  EXPECT_TRUE(n->items[1].items.empty());
  EXPECT_FALSE(f->GetString("u8").ok());  // wrong type is an error, not a crash
  EXPECT_EQ(f->GetInt("absent").status().code(), StatusCode::kNotFound);
}

TEST(Gguf, TensorsAreAlignedAndReadBack) {
  for (uint32_t alignment : {32u, 64u}) {
    Writer w(alignment);
    if (alignment != 32) w.SetU32("general.alignment", alignment);
    std::vector<float> a(5, 1.5f), b(64, -2.0f);
    w.AddTensor("a", kernels::GgmlType::kF32, {5}, {reinterpret_cast<uint8_t*>(a.data()), 20});
    w.AddTensor("b", kernels::GgmlType::kF32, {16, 4}, {reinterpret_cast<uint8_t*>(b.data()), 256});
    const auto bytes = w.Serialize();
    auto f = File::FromBuffer(bytes);
    ASSERT_TRUE(f.ok()) << f.status().message();
    EXPECT_EQ(f->alignment(), alignment);
    const TensorInfo* tb = f->FindTensor("b");
    ASSERT_NE(tb, nullptr);
    EXPECT_EQ(tb->ne[0], 16);
    EXPECT_EQ(tb->ne[1], 4);
    EXPECT_EQ(tb->n_bytes, 256u);
    EXPECT_EQ((tb->data - bytes.data()) % alignment, 0);
    float x;
    std::memcpy(&x, tb->data + 4 * 63, 4);
    EXPECT_EQ(x, -2.0f);
  }
}

TEST(Gguf, BadMagicAndVersion) {
  auto b = OneTensorFile();
  b[0] = 'X';
  EXPECT_NE(ParseError(b).message().find("bad magic"), std::string::npos);
  b = OneTensorFile();
  Poke<uint32_t>(b, 4, 7);
  EXPECT_NE(ParseError(b).message().find("unsupported GGUF version 7 at offset 4"), std::string::npos);
  Poke<uint32_t>(b, 4, 3u << 24);
  EXPECT_NE(ParseError(b).message().find("big-endian"), std::string::npos);
  EXPECT_NE(ParseError({}).message().find("truncated"), std::string::npos);
}

TEST(Gguf, TruncatedAnywhereIsAnError) {
  const auto full = OneTensorFile();
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> b(full.begin(), full.begin() + static_cast<long>(n));
    const Status s = ParseError(b);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << "length " << n << ": " << s.message();
  }
}

TEST(Gguf, LengthsBeyondTheFile) {
  auto b = OneTensorFile();
  Poke<uint64_t>(b, 24, 1ull << 40);  // length of the first key
  EXPECT_NE(ParseError(b).message().find("has length 1099511627776 but only"), std::string::npos);

  Writer w;
  w.Set("arr", Array(ValueType::kUint32, {Scalar(ValueType::kUint32, 1)}));
  auto a = w.Serialize();
  // key "arr": 8 + 3 bytes, value type 4, element type 4, then the count.
  Poke<uint64_t>(a, 24 + 11 + 4 + 4, 1ull << 61);
  EXPECT_NE(ParseError(a).message().find("cannot fit"), std::string::npos);

  Poke<uint64_t>(b = OneTensorFile(), 8, 1ull << 50);  // tensor count
  EXPECT_NE(ParseError(b).message().find("tensor count"), std::string::npos);
  Poke<uint64_t>(b = OneTensorFile(), 16, 1ull << 50);  // metadata count
  EXPECT_NE(ParseError(b).message().find("metadata count"), std::string::npos);
}

TEST(Gguf, BadTensorInfos) {
  auto b = OneTensorFile();
  Poke<uint64_t>(b, TensorInfoField(b, kOffsetField), 8);
  EXPECT_NE(ParseError(b).message().find("is not aligned to 32"), std::string::npos);

  b = OneTensorFile();
  Poke<uint64_t>(b, TensorInfoField(b, kOffsetField), 1024);
  EXPECT_NE(ParseError(b).message().find("outside"), std::string::npos);

  b = OneTensorFile();
  Poke<uint32_t>(b, TensorInfoField(b, kTypeField), 99);
  EXPECT_NE(ParseError(b).message().find("type 99 is unknown"), std::string::npos);

  b = OneTensorFile();
  Poke<uint32_t>(b, TensorInfoField(b, kTypeField), 8);  // Q8_0 needs rows of 32
  EXPECT_NE(ParseError(b).message().find("not a multiple of the Q8_0 block size"), std::string::npos);

  b = OneTensorFile();
  Poke<uint64_t>(b, TensorInfoField(b, kNeField), 1ull << 62);
  EXPECT_NE(ParseError(b).message().find("overflows"), std::string::npos);

  b = OneTensorFile();
  Poke<uint64_t>(b, TensorInfoField(b, kNeField), 1ull << 40);
  EXPECT_NE(ParseError(b).message().find("outside"), std::string::npos);

  b = OneTensorFile();
  Poke<uint32_t>(b, TensorInfoField(b, 9), 5);  // n_dims
  EXPECT_NE(ParseError(b).message().find("dimensions"), std::string::npos);
}

TEST(Gguf, BadMetadata) {
  Writer w;
  Value deep = Scalar(ValueType::kUint8, 1);
  for (int i = 0; i < 12; ++i) deep = Array(deep.type, {deep});
  w.Set("deep", deep);
  EXPECT_NE(ParseError(w.Serialize()).message().find("nested deeper"), std::string::npos);

  Writer d;
  d.SetU32("k", 1);
  auto b = d.Serialize();
  // Append a second "k": bump the count and repeat the pair.
  const std::vector<uint8_t> pair(b.begin() + 24, b.end());
  b.insert(b.end(), pair.begin(), pair.end());
  Poke<uint64_t>(b, 16, 2);
  EXPECT_NE(ParseError(b).message().find("duplicate metadata key 'k'"), std::string::npos);

  Writer t;
  t.SetBool("flag", true);
  b = t.Serialize();
  b.back() = 7;
  EXPECT_NE(ParseError(b).message().find("bool value 7"), std::string::npos);

  Writer u;
  u.SetU32("k", 1);
  b = u.Serialize();
  Poke<uint32_t>(b, 24 + 9, 13);  // value type
  EXPECT_NE(ParseError(b).message().find("unknown value type 13"), std::string::npos);
}

TEST(Gguf, MissingRequiredKeysAreNamed) {
  Writer w;
  w.SetString("general.name", "x");
  auto b = w.Serialize();
  auto f = File::FromBuffer(b);
  ASSERT_TRUE(f.ok());
  auto c = ReadModelConfig(*f);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "missing required metadata key 'general.architecture'");

  Writer a;
  a.SetString("general.architecture", "mamba");
  b = a.Serialize();
  c = ReadModelConfig(*File::FromBuffer(b));
  EXPECT_NE(c.status().message().find("'mamba' is not supported (supported: llada, dream, llama, qwen2)"),
            std::string::npos);

  Writer l;
  l.SetString("general.architecture", "llada");
  l.SetU32("llada.embedding_length", 64);
  b = l.Serialize();
  c = ReadModelConfig(*File::FromBuffer(b));
  EXPECT_EQ(c.status().message(), "missing required metadata key 'llada.block_count'");
}

TEST(Gguf, OpenReportsMissingAndEmptyFiles) {
  auto f = File::Open("/nonexistent/model.gguf");
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  const std::string empty = ::testing::TempDir() + "/empty.gguf";
  std::ofstream(empty).close();
  f = File::Open(empty);
  EXPECT_NE(f.status().message().find("is empty"), std::string::npos);
  f = File::Open(::testing::TempDir());
  EXPECT_NE(f.status().message().find("not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace sculpt::gguf
