// ggml tensor types and their exact block layouts (ggml-common.h at llama.cpp 84f7129).
// Every quantized weight row is a sequence of blocks; a block of `block_size` values takes
// `type_size` bytes. All multi-byte fields are little-endian.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sculpt::kernels {

enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ4_NL = 20,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

struct TypeTraits {
  std::string_view name;
  int64_t block_size;  // values per block
  int64_t type_size;   // bytes per block
  bool matmul_supported;  // usable as a weight matrix by the kernels
};

// Traits of a ggml type id, or nullopt for ids this build does not know the layout of.
std::optional<TypeTraits> TraitsOf(uint32_t type_id);
// Name of any ggml type id, including ones without a known layout ("IQ2_XXS", "type 99").
std::string TypeName(uint32_t type_id);

inline constexpr int64_t kQK = 32;    // Q4_0, Q8_0 block size
inline constexpr int64_t kQK_K = 256;  // k-quant super-block size

// Block structs, byte-exact with ggml. uint16_t holds IEEE half bits.
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
struct BlockQ4_1 {  // w = d * q + m, q in 0..15
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};
struct BlockQ5_0 {  // w = d * (q - 16), q in 0..31: 4 low bits in qs (as Q4_0), the 5th in qh
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
struct BlockQ5_1 {  // w = d * q + m, q in 0..31, bits as Q5_0
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
struct BlockQ2_K {  // 16 sub-blocks of 16: w = (d * (sc & 15)) q - dmin * (sc >> 4), q in 0..3
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  uint16_t d;
  uint16_t dmin;
};
struct BlockQ3_K {  // 16 sub-blocks of 16: w = (d * (sc - 32)) q, q in -4..3, 6-bit sc
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};
struct BlockQ5_K {  // as Q4_K, with the 5th bit of each q in qh
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
// The 16 levels of IQ4_NL and IQ4_XS (ggml's kvalues_iq4nl): a 4-bit index selects one, so the
// values are non-uniform, denser near zero.
inline constexpr int8_t kIq4Levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                          1,    13,   25,  38,  53,  69,  89,  113};
struct BlockIQ4_NL {  // w = d * kIq4Levels[i], i the nibbles laid out as Q4_0's
  uint16_t d;
  uint8_t qs[kQK / 2];
};
struct BlockIQ4_XS {  // 8 sub-blocks of 32: w = (d * (ls - 32)) * kIq4Levels[i], 6-bit ls
  uint16_t d;
  uint16_t scales_h;            // bits 4-5 of sub-block j's ls at bits 2j, 2j + 1
  uint8_t scales_l[kQK_K / 64];  // bits 0-3 of ls: sub-block j in byte j / 2, nibble j % 2
  uint8_t qs[kQK_K / 2];         // sub-block j: 16 bytes, indices as IQ4_NL's
};
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockIQ4_XS) == 136);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K or Q5_K super-block, from its 12 bytes
// of scales (ggml's get_scale_min_k4).
void ScaleMinK4(int j, const uint8_t* scales, uint8_t* scale, uint8_t* min);

// The 5-bit value j (0..31) of a Q5_0 / Q5_1 block: the nibble from qs (j < 16 low, else high)
// and bit j of the little-endian 32-bit qh.
inline int Q5Value(const uint8_t* qs, const uint8_t* qh, int j) {
  const uint32_t high = static_cast<uint32_t>(qh[0]) | (static_cast<uint32_t>(qh[1]) << 8) |
                        (static_cast<uint32_t>(qh[2]) << 16) | (static_cast<uint32_t>(qh[3]) << 24);
  const int nibble = j < kQK / 2 ? (qs[j] & 0xF) : (qs[j - kQK / 2] >> 4);
  return nibble | static_cast<int>(((high >> j) & 1u) << 4);
}

// The 5-bit value l (0..255) of a Q5_K super-block: value l of sub-block s = l / 32 has its 4 low
// bits in qs[(s / 2) * 32 + l % 32] (low nibble for even s) and its 5th in bit s of qh[l % 32].
inline int Q5KValue(const uint8_t* qs, const uint8_t* qh, int l) {
  const int s = l / 32, i = l % 32;
  const uint8_t byte = qs[(s / 2) * 32 + i];
  const int nibble = s % 2 == 0 ? (byte & 0xF) : (byte >> 4);
  return nibble | (((qh[i] >> s) & 1) << 4);
}

// Q2_K and Q3_K: value e (0..255) of a super-block has its 2 low bits at bits 2j..2j+1 of
// qs[32 n + l], where n = e / 128, j = e % 128 / 32, l = e % 32, and the scale of sub-block
// e / 16 (Q3_K's third bit: bit 4 n + j of hmask[l], set meaning +0, clear -4).
inline int K2Bits(const uint8_t* qs, int e) {
  return (qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3;
}
inline int Q3KValue(const uint8_t* hmask, const uint8_t* qs, int e) {
  const int bit = 4 * (e / 128) + e % 128 / 32;
  return K2Bits(qs, e) - (((hmask[e % 32] >> bit) & 1) ? 0 : 4);
}
// The 6-bit scale of Q3_K sub-block i (0..15) from its 12 bytes: 4 low bits in byte i % 8 (low
// nibble for i < 8), 2 high bits at bits 2 (i / 4) of byte 8 + i % 4; minus 32.
inline int Q3KScale(const uint8_t* scales, int i) {
  const int low = i < 8 ? scales[i] & 0xF : scales[i - 8] >> 4;
  const int high = (scales[8 + i % 4] >> (2 * (i / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// Exact IEEE binary16 -> binary32 (subnormals, infinities and NaNs included).
float HalfToFloat(uint16_t h);
// Round-to-nearest-even binary32 -> binary16 (used by tests and the GGUF writer).
uint16_t FloatToHalf(float f);
inline float Bf16ToFloat(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

// The blockwise form of a quantized type: value k of a row is scale[k / block] * q[k], minus
// min[k / block] when has_min, with q an integer of `bits` bits from `least`: exactly the float
// operations of ggml's dequantize_row_* (Dequantize computes it so; the packed kernels store it).
// Each scale is itself one float product, d * sub (and each min dmin * sub_min), BlockScales.
struct BlockForm {
  int64_t block;  // values per scale (a ggml block or a K-type sub-block)
  bool has_min;
  int least;      // the smallest q
  int bits;
};
// The form of a quantized type that Sculpt multiplies, or nullopt (float types and the rest).
std::optional<BlockForm> BlockFormOf(GgmlType type);

// The scales of one ggml block in two levels, as ggml forms them: sub-block s has scale
// d * sub[s] and min dmin * sub_min[s] (one float multiplication each). K types: d and dmin are
// the super-block's, sub and sub_min its 4- to 8-bit integer scales; the legacy types (one
// sub-block): d = dmin = 1 and sub, sub_min the block's own half-precision scale and min (-m for
// Q4_1 and Q5_1), so that d * sub is sub exactly. The subs are half-precision bits (every one of
// those integers is exact in half precision): 16 bits per block where a float scale took 32.
struct BlockScales {
  float d = 1.0f, dmin = 1.0f;
  uint16_t sub[16] = {}, sub_min[16] = {};
};
// Decodes `n` values (a multiple of the type's block size) into q [n] and scales
// [n / the type's block size] (one per ggml block).
void DecodeBlocks(GgmlType type, const void* src, int64_t n, int8_t* q, BlockScales* scales);

// Expands `n` values (a multiple of the type's block size) starting at `src` into floats.
// Bit-identical to ggml's to_float (and gguf-py's dequantize) for every supported type.
void Dequantize(GgmlType type, const void* src, int64_t n, float* dst);

}  // namespace sculpt::kernels
