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
      "IQ3_XXS", "IQ1_S",  "IQ4_NL",  "IQ3_S", "IQ2_S", "IQ4_XS", nullptr, nullptr,  nullptr,
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

namespace {

uint16_t LoadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

void DequantizeQ8_0(const uint8_t* src, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ8_0)) {
    const float d = HalfToFloat(LoadU16(src));
    const int8_t* qs = reinterpret_cast<const int8_t*>(src + 2);
    for (int j = 0; j < kQK; ++j) *y++ = static_cast<float>(qs[j]) * d;
  }
}

void DequantizeQ4_0(const uint8_t* src, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ4_0), y += kQK) {
    const float d = HalfToFloat(LoadU16(src));
    const uint8_t* qs = src + 2;
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>((qs[j] & 0x0F) - 8) * d;
      y[j + kQK / 2] = static_cast<float>((qs[j] >> 4) - 8) * d;
    }
  }
}

// Q4_1 and Q5_1: d * q + m (two roundings); Q5_0: d * (q - 16).
void DequantizeQ4_1(const uint8_t* src, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ4_1), y += kQK) {
    const float d = HalfToFloat(LoadU16(src)), m = HalfToFloat(LoadU16(src + 2));
    const uint8_t* qs = src + 4;
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(qs[j] & 0x0F) * d + m;
      y[j + kQK / 2] = static_cast<float>(qs[j] >> 4) * d + m;
    }
  }
}

void DequantizeQ5_0(const uint8_t* src, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ5_0), y += kQK) {
    const float d = HalfToFloat(LoadU16(src));
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(Q5Value(src + 6, src + 2, j) - 16) * d;
  }
}

void DequantizeQ5_1(const uint8_t* src, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ5_1), y += kQK) {
    const float d = HalfToFloat(LoadU16(src)), m = HalfToFloat(LoadU16(src + 2));
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(Q5Value(src + 8, src + 4, j)) * d + m;
  }
}

// Q2_K: (d * (sc & 15)) * q - dmin * (sc >> 4); Q3_K: (d * (sc - 32)) * q. Sub-blocks of 16.
void DequantizeQ2_K(const uint8_t* src, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ2_K)) {
    const float d = HalfToFloat(LoadU16(src + 80)), dmin = HalfToFloat(LoadU16(src + 82));
    for (int s = 0; s < 16; ++s) {
      const float dl = d * static_cast<float>(src[s] & 0xF);
      const float ml = dmin * static_cast<float>(src[s] >> 4);
      for (int l = 0; l < 16; ++l) {
        *y++ = dl * static_cast<float>(K2Bits(src + 16, 16 * s + l)) - ml;
      }
    }
  }
}

void DequantizeQ3_K(const uint8_t* src, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ3_K)) {
    const float d = HalfToFloat(LoadU16(src + 108));
    for (int s = 0; s < 16; ++s) {
      const float dl = d * static_cast<float>(Q3KScale(src + 96, s));
      for (int l = 0; l < 16; ++l) {
        *y++ = dl * static_cast<float>(Q3KValue(src, src + 32, 16 * s + l));
      }
    }
  }
}

// Q5_K: 8 sub-blocks of 32, (d * scale) * q - (dmin * min), as Q4_K.
void DequantizeQ5_K(const uint8_t* src, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ5_K)) {
    const float d = HalfToFloat(LoadU16(src)), dmin = HalfToFloat(LoadU16(src + 2));
    const uint8_t* scales = src + 4;
    const uint8_t* qh = src + 16;
    const uint8_t* qs = src + 48;
    for (int s = 0; s < 8; ++s) {
      uint8_t sc, m;
      ScaleMinK4(s, scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      for (int l = 0; l < 32; ++l) {
        *y++ = d1 * static_cast<float>(Q5KValue(qs, qh, 32 * s + l)) - m1;
      }
    }
  }
}

void DequantizeQ4_K(const uint8_t* src, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ4_K)) {
    const float d = HalfToFloat(LoadU16(src));
    const float dmin = HalfToFloat(LoadU16(src + 2));
    const uint8_t* scales = src + 4;
    const uint8_t* q = src + 16;
    int is = 0;
    for (int j = 0; j < kQK_K; j += 64, q += 32, is += 2) {
      uint8_t sc, m;
      ScaleMinK4(is + 0, scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      ScaleMinK4(is + 1, scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void DequantizeQ6_K(const uint8_t* src, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ6_K)) {
    const uint8_t* ql = src;
    const uint8_t* qh = src + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(src + 192);
    const float d = HalfToFloat(LoadU16(src + 208));
    for (int n = 0; n < kQK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

}  // namespace

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
    case GgmlType::kQ8_0: DequantizeQ8_0(src, n / kQK, dst); return;
    case GgmlType::kQ4_0: DequantizeQ4_0(src, n / kQK, dst); return;
    case GgmlType::kQ4_1: DequantizeQ4_1(src, n / kQK, dst); return;
    case GgmlType::kQ5_0: DequantizeQ5_0(src, n / kQK, dst); return;
    case GgmlType::kQ5_1: DequantizeQ5_1(src, n / kQK, dst); return;
    case GgmlType::kQ2_K: DequantizeQ2_K(src, n / kQK_K, dst); return;
    case GgmlType::kQ3_K: DequantizeQ3_K(src, n / kQK_K, dst); return;
    case GgmlType::kQ4_K: DequantizeQ4_K(src, n / kQK_K, dst); return;
    case GgmlType::kQ5_K: DequantizeQ5_K(src, n / kQK_K, dst); return;
    case GgmlType::kQ6_K: DequantizeQ6_K(src, n / kQK_K, dst); return;
    default: break;
  }
  SCULPT_CHECK(false && "Dequantize called with a type that has no kernel");
}

}  // namespace sculpt::kernels
