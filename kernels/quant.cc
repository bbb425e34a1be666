// Dequantization, mirroring ggml-quants.c dequantize_row_* at llama.cpp 84f7129. Kernels are built
// with -ffp-contract=off so `d * q - m` rounds twice, exactly as ggml and gguf-py do.
#include "kernels/quant.h"

#include <cmath>
#include <cstring>
#include <string>

#include "base/check.h"

namespace sculpt::kernels {

std::optional<TypeTraits> TraitsOf(uint32_t type_id) {
  switch (static_cast<GgmlType>(type_id)) {
    case GgmlType::kF32: return TypeTraits{"F32", 1, 4, true};
    case GgmlType::kF16: return TypeTraits{"F16", 1, 2, true};
    case GgmlType::kBF16: return TypeTraits{"BF16", 1, 2, true};
    case GgmlType::kQ4_0: return TypeTraits{"Q4_0", 32, 18, true};
    case GgmlType::kQ4_1: return TypeTraits{"Q4_1", 32, 20, true};
    case GgmlType::kQ5_0: return TypeTraits{"Q5_0", 32, 22, true};
    case GgmlType::kQ5_1: return TypeTraits{"Q5_1", 32, 24, true};
    case GgmlType::kQ8_0: return TypeTraits{"Q8_0", 32, 34, true};
    case GgmlType::kQ8_1: return TypeTraits{"Q8_1", 32, 36, false};
    case GgmlType::kQ2_K: return TypeTraits{"Q2_K", 256, 84, true};
    case GgmlType::kQ3_K: return TypeTraits{"Q3_K", 256, 110, true};
    case GgmlType::kQ4_K: return TypeTraits{"Q4_K", 256, 144, true};
    case GgmlType::kQ5_K: return TypeTraits{"Q5_K", 256, 176, true};
    case GgmlType::kQ6_K: return TypeTraits{"Q6_K", 256, 210, true};
    case GgmlType::kQ8_K: return TypeTraits{"Q8_K", 256, 292, false};
    case GgmlType::kIQ4_NL: return TypeTraits{"IQ4_NL", 32, 18, true};
    case GgmlType::kIQ4_XS: return TypeTraits{"IQ4_XS", 256, 136, true};
    case GgmlType::kI8: return TypeTraits{"I8", 1, 1, false};
    case GgmlType::kI16: return TypeTraits{"I16", 1, 2, false};
    case GgmlType::kI32: return TypeTraits{"I32", 1, 4, false};
    case GgmlType::kI64: return TypeTraits{"I64", 1, 8, false};
    case GgmlType::kF64: return TypeTraits{"F64", 1, 8, false};
  }
  return std::nullopt;
}

std::string TypeName(uint32_t type_id) {
  if (auto t = TraitsOf(type_id)) return std::string(t->name);
  // Types whose layout this build does not implement, named for error messages.
  static constexpr const char* kOther[] = {
      nullptr,   nullptr,  nullptr,   nullptr, "Q4_2",  "Q4_3",   nullptr, nullptr,  nullptr,
      nullptr,   nullptr,  nullptr,   nullptr, nullptr, nullptr,  nullptr, "IQ2_XXS", "IQ2_XS",
      "IQ3_XXS", "IQ1_S",  nullptr,   "IQ3_S", "IQ2_S", nullptr,  nullptr, nullptr,  nullptr,
      nullptr,   nullptr,  "IQ1_M",   nullptr, "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0",
      "TQ2_0",   "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8", "MXFP4"};
  if (type_id < std::size(kOther) && kOther[type_id] != nullptr) return kOther[type_id];
  return "type " + std::to_string(type_id);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: value = mant * 2^-24, exactly representable in binary32
      float f = std::ldexp(static_cast<float>(mant), -24);
      std::memcpy(&bits, &f, 4);
      bits |= sign;
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7FFFFFFFu;
  if (absx >= 0x7F800000u) {  // inf or nan
    return static_cast<uint16_t>(sign | 0x7C00u | (absx > 0x7F800000u ? 0x200u : 0u));
  }
  if (absx >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // rounds to inf
  if (absx < 0x38800000u) {  // result is subnormal or zero: round mant * 2^-24
    float a;
    std::memcpy(&a, &absx, 4);
    float scaled = a * 16777216.0f;  // exact: 2^24
    uint32_t q = static_cast<uint32_t>(std::nearbyint(scaled));  // default mode: nearest-even
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t mant = absx & 0x7FFFFFu;
  uint32_t exp = (absx >> 23) - 112u;
  uint32_t half = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

void ScaleMinK4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

std::optional<BlockForm> BlockFormOf(GgmlType type) {
  switch (type) {
    case GgmlType::kQ8_0: return BlockForm{kQK, false, -128, 8};
    case GgmlType::kQ4_0: return BlockForm{kQK, false, -8, 4};
    case GgmlType::kQ4_1: return BlockForm{kQK, true, 0, 4};
    case GgmlType::kQ5_0: return BlockForm{kQK, false, -16, 5};
    case GgmlType::kQ5_1: return BlockForm{kQK, true, 0, 5};
    case GgmlType::kQ2_K: return BlockForm{16, true, 0, 2};
    case GgmlType::kQ3_K: return BlockForm{16, false, -4, 3};
    case GgmlType::kQ4_K: return BlockForm{32, true, 0, 4};
    case GgmlType::kQ5_K: return BlockForm{32, true, 0, 5};
    case GgmlType::kQ6_K: return BlockForm{16, false, -32, 6};
    // the non-uniform 4-bit types as bytes of their levels (-127..113), multiplied as Q8_0
    case GgmlType::kIQ4_NL: return BlockForm{kQK, false, -127, 8};
    case GgmlType::kIQ4_XS: return BlockForm{32, false, -127, 8};
    default: return std::nullopt;
  }
}

namespace {

uint16_t LoadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// An integer sub-scale (|v| <= 128) as half-precision bits: exact.
uint16_t Sub(int v) { return FloatToHalf(static_cast<float>(v)); }
// The 32 values of an IQ4 block from its 16 bytes of indices: low nibbles first, as Q4_0.
void Iq4Levels(const uint8_t* qs, int8_t* q) {
  for (int i = 0; i < kQK / 2; ++i) {
    q[i] = kIq4Levels[qs[i] & 0xF];
    q[i + kQK / 2] = kIq4Levels[qs[i] >> 4];
  }
}

// -h for half-precision bits h: the sign bit flipped, exact (Q4_1 / Q5_1 mins).
uint16_t Negated(uint16_t h) { return static_cast<uint16_t>(h ^ 0x8000u); }

// One ggml block of each type (32 values for the legacy types, a 256-value super-block for the K
// types) into q and its scales (BlockScales), which give the scales and mins as ggml's
// dequantize_row_* computes them (Q4_1 / Q5_1: min = -m, since d q - (-m) rounds as d q + m).
void DecodeOne(GgmlType type, const uint8_t* src, int8_t* q, BlockScales* bs) {
  const auto put = [&](int k, int v) { q[k] = static_cast<int8_t>(v); };
  *bs = BlockScales{};
  uint16_t* scale = bs->sub;
  uint16_t* min = bs->sub_min;
  switch (type) {
    case GgmlType::kQ8_0:
      scale[0] = LoadU16(src);
      for (int i = 0; i < kQK; ++i) put(i, static_cast<int8_t>(src[2 + i]));
      return;
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1: {
      const bool q4_0 = type == GgmlType::kQ4_0;
      scale[0] = LoadU16(src);
      if (!q4_0) min[0] = Negated(LoadU16(src + 2));
      const uint8_t* qs = src + (q4_0 ? 2 : 4);
      for (int i = 0; i < kQK / 2; ++i) {
        put(i, (qs[i] & 0x0F) - (q4_0 ? 8 : 0));
        put(i + kQK / 2, (qs[i] >> 4) - (q4_0 ? 8 : 0));
      }
      return;
    }
    case GgmlType::kQ5_0:
      scale[0] = LoadU16(src);
      for (int i = 0; i < kQK; ++i) put(i, Q5Value(src + 6, src + 2, i) - 16);
      return;
    case GgmlType::kQ5_1:
      scale[0] = LoadU16(src);
      min[0] = Negated(LoadU16(src + 2));
      for (int i = 0; i < kQK; ++i) put(i, Q5Value(src + 8, src + 4, i));
      return;
    case GgmlType::kQ2_K: {  // 16 sub-blocks of 16: (d (sc & 15)) q - dmin (sc >> 4)
      bs->d = HalfToFloat(LoadU16(src + 80));
      bs->dmin = HalfToFloat(LoadU16(src + 82));
      for (int s = 0; s < 16; ++s) {
        scale[s] = Sub(src[s] & 0xF);
        min[s] = Sub(src[s] >> 4);
      }
      for (int e = 0; e < kQK_K; ++e) put(e, K2Bits(src + 16, e));
      return;
    }
    case GgmlType::kQ3_K: {  // 16 sub-blocks of 16: (d (sc - 32)) q, q in -4..3
      bs->d = HalfToFloat(LoadU16(src + 108));
      for (int s = 0; s < 16; ++s) scale[s] = Sub(Q3KScale(src + 96, s));
      for (int e = 0; e < kQK_K; ++e) put(e, Q3KValue(src, src + 32, e));
      return;
    }
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K: {  // 8 sub-blocks of 32: (d sc) q - (dmin m)
      bs->d = HalfToFloat(LoadU16(src));
      bs->dmin = HalfToFloat(LoadU16(src + 2));
      for (int s = 0; s < 8; ++s) {
        uint8_t sc, m;
        ScaleMinK4(s, src + 4, &sc, &m);
        scale[s] = Sub(sc);
        min[s] = Sub(m);
      }
      for (int e = 0; e < kQK_K; ++e) {
        if (type == GgmlType::kQ5_K) {
          put(e, Q5KValue(src + 48, src + 16, e));
        } else {
          const uint8_t byte = src[16 + (e / 64) * 32 + e % 32];
          put(e, e / 32 % 2 == 0 ? byte & 0xF : byte >> 4);
        }
      }
      return;
    }
    case GgmlType::kQ6_K: {  // 16 sub-blocks of 16: (d sc) q, q in -32..31
      const int8_t* sc = reinterpret_cast<const int8_t*>(src + 192);
      bs->d = HalfToFloat(LoadU16(src + 208));
      for (int s = 0; s < 16; ++s) scale[s] = Sub(sc[s]);
      for (int n = 0; n < 2; ++n) {
        const uint8_t* ql = src + 64 * n;
        const uint8_t* qh = src + 128 + 32 * n;
        for (int l = 0; l < 32; ++l) {
          const int at = 128 * n + l;
          put(at, ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
          put(at + 32, ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
          put(at + 64, ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
          put(at + 96, ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
      }
      return;
    }
    case GgmlType::kIQ4_NL:
      scale[0] = LoadU16(src);
      Iq4Levels(src + 2, q);
      return;
    case GgmlType::kIQ4_XS: {  // 8 sub-blocks of 32: (d (ls - 32)) level
      bs->d = HalfToFloat(LoadU16(src));
      const uint16_t high = LoadU16(src + 2);
      for (int s = 0; s < 8; ++s) {
        const int ls = ((src[4 + s / 2] >> (4 * (s % 2))) & 0xF) | (((high >> (2 * s)) & 3) << 4);
        scale[s] = Sub(ls - 32);
        Iq4Levels(src + 8 + 16 * s, q + 32 * s);
      }
      return;
    }
    default:
      SCULPT_CHECK(false && "DecodeBlocks called with a type that has no block form");
  }
}

}  // namespace

void DecodeBlocks(GgmlType type, const void* src_v, int64_t n, int8_t* q, BlockScales* scales) {
  const auto traits = *TraitsOf(static_cast<uint32_t>(type));
  const uint8_t* src = static_cast<const uint8_t*>(src_v);
  for (int64_t i = 0; i < n / traits.block_size; ++i, src += traits.type_size) {
    DecodeOne(type, src, q + i * traits.block_size, scales + i);
  }
}

void Dequantize(GgmlType type, const void* src_v, int64_t n, float* dst) {
  const uint8_t* src = static_cast<const uint8_t*>(src_v);
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = HalfToFloat(LoadU16(src + 2 * i));
      return;
    case GgmlType::kBF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFloat(LoadU16(src + 2 * i));
      return;
    default: break;
  }
  const auto form = BlockFormOf(type);
  SCULPT_CHECK(form.has_value() && "Dequantize called with a type that has no kernel");
  // A ggml block at a time (at most a 256-value super-block of 16 scales).
  const auto traits = *TraitsOf(static_cast<uint32_t>(type));
  int8_t q[kQK_K];
  BlockScales bs;
  for (int64_t i = 0; i < n; i += traits.block_size, src += traits.type_size) {
    DecodeOne(type, src, q, &bs);
    for (int64_t k = 0; k < traits.block_size; ++k) {
      const int64_t s = k / form->block;
      const float v = bs.d * HalfToFloat(bs.sub[s]) * static_cast<float>(q[k]);
      dst[i + k] = form->has_min ? v - bs.dmin * HalfToFloat(bs.sub_min[s]) : v;
    }
  }
}

}  // namespace sculpt::kernels
