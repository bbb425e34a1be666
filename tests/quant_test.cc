// Block layouts and number conversions against hand-computed values.
#include <cmath>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/quant.h"

namespace sculpt::kernels {
namespace {

TEST(Half, KnownValues) {
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xC000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7C00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7E00)));
  EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
}

TEST(Half, EveryValueRoundTrips) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(FloatToHalf(f), h) << h;
  }
}

TEST(Half, RoundsToNearestEven) {
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // tie -> even
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie -> even (up)
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7C00);                          // overflows to inf
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);             // tie -> even (zero)
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -25)), 0x0002);
}

TEST(Bf16, IsTheHighHalf) {
  EXPECT_EQ(Bf16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(Bf16ToFloat(0xC040), -3.0f);
}

TEST(Dequantize, Q8_0) {
  BlockQ8_0 b;
  b.d = 0x3800;  // 0.5
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 128);
  float y[32];
  Dequantize(GgmlType::kQ8_0, &b, 32, y);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], (j * 8 - 128) * 0.5f);
}

TEST(Dequantize, Q4_0) {
  BlockQ4_0 b;
  b.d = 0x4000;  // 2
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float y[32];
  Dequantize(GgmlType::kQ4_0, &b, 32, y);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 2.0f);
    EXPECT_EQ(y[j + 16], (15 - j - 8) * 2.0f);
  }
}

TEST(Dequantize, Q4_K) {
  BlockQ4_K b;
  b.d = 0x3C00;     // 1
  b.dmin = 0x3800;  // 0.5
  const uint8_t scales[12] = {0x41, 2, 3, 4, 5, 6, 7, 8, 0x21, 0x43, 0x65, 0x87};
  std::memcpy(b.scales, scales, 12);
  std::memset(b.qs, 0x5A, sizeof(b.qs));  // low nibble 10, high nibble 5
  std::vector<float> y(256);
  Dequantize(GgmlType::kQ4_K, &b, 256, y.data());
  // Sub-block s (32 values): scale/min pair s; even s use low nibbles, odd s high nibbles.
  // pairs: (1,5) (2,6) (3,7) (4,8) (17,2) (3,4) (5,6) (7,8); the 0x40 bit of scales[0] adds 16
  // to the scale of pair 4.
  const float want[8] = {1 * 10 - 2.5f, 2 * 5 - 3.0f, 3 * 10 - 3.5f, 4 * 5 - 4.0f,
                         17 * 10 - 1.0f, 3 * 5 - 2.0f, 5 * 10 - 3.0f, 7 * 5 - 4.0f};
  for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], want[i / 32]) << i;
}

TEST(Dequantize, Q4_1) {
  BlockQ4_1 b;
  b.d = 0x4000;  // 2
  b.m = 0xBC00;  // -1
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float y[32];
  Dequantize(GgmlType::kQ4_1, &b, 32, y);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], j * 2.0f - 1.0f);
    EXPECT_EQ(y[j + 16], (15 - j) * 2.0f - 1.0f);
  }
}

// Q5_0 / Q5_1: value j has the nibble of qs[j % 16] (low for j < 16) and bit j of qh as its 5th.
// qh = 0x0F, 0xF0, 0xA5, 0xA5: bits 0-3, 12-15, 16, 18, 21, 23, 24, 26, 29, 31.
constexpr uint8_t kQh5[4] = {0x0F, 0xF0, 0xA5, 0xA5};
constexpr int kQ5Values[32] = {16, 17, 18, 19, 4, 5, 6, 7, 8, 9, 10, 11, 28, 29, 30, 31,
                               31, 14, 29, 12, 11, 26, 9, 24, 23, 6, 21, 4, 3, 18, 1, 16};

TEST(Dequantize, Q5_0) {
  BlockQ5_0 b;
  b.d = 0x3800;  // 0.5
  std::memcpy(b.qh, kQh5, 4);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float y[32];
  Dequantize(GgmlType::kQ5_0, &b, 32, y);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], (kQ5Values[j] - 16) * 0.5f) << j;
}

TEST(Dequantize, Q5_1) {
  BlockQ5_1 b;
  b.d = 0x3C00;  // 1
  b.m = 0x3400;  // 0.25
  std::memcpy(b.qh, kQh5, 4);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float y[32];
  Dequantize(GgmlType::kQ5_1, &b, 32, y);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], kQ5Values[j] + 0.25f) << j;
}

// Q2_K / Q3_K 2-bit fields: value e is in byte 32 n + e % 32 (n = e / 128) at bits 2j, 2j + 1
// (j = e % 128 / 32). The bytes below give field j the value kTwoBits[n][half][j], half = e % 32
// >= 16.
constexpr uint8_t kTwoBitBytes[2][2] = {{0xE4, 0x4E}, {0x1B, 0xB1}};
constexpr int kTwoBits[2][2][4] = {{{0, 1, 2, 3}, {2, 3, 0, 1}}, {{3, 2, 1, 0}, {1, 0, 3, 2}}};
void FillTwoBits(uint8_t* qs) {
  for (int i = 0; i < 64; ++i) qs[i] = kTwoBitBytes[i / 32][i % 32 >= 16];
}
int TwoBitsOf(int e) { return kTwoBits[e / 128][e % 32 >= 16][e % 128 / 32]; }

TEST(Dequantize, Q2_K) {
  BlockQ2_K b;
  for (int s = 0; s < 16; ++s) b.scales[s] = static_cast<uint8_t>((s % 5 + 1) | ((s % 3) << 4));
  FillTwoBits(b.qs);
  b.d = 0x3C00;     // 1
  b.dmin = 0x3800;  // 0.5
  std::vector<float> y(256);
  Dequantize(GgmlType::kQ2_K, &b, 256, y.data());
  for (int e = 0; e < 256; ++e) {
    const int s = e / 16;
    EXPECT_EQ(y[e], static_cast<float>((s % 5 + 1) * TwoBitsOf(e)) - 0.5f * (s % 3)) << e;
  }
}

TEST(Dequantize, Q3_K) {
  BlockQ3_K b;
  const uint8_t scales[12] = {0x21, 0x43, 0x65, 0x87, 0xA9, 0xCB, 0xED, 0x0F, 0xE4, 0x1B, 0x00, 0xFF};
  std::memcpy(b.scales, scales, 12);
  // Sub-block i's scale: 4 low bits from byte i % 8 (high nibble from i = 8), 2 high bits from
  // byte 8 + i % 4 at bit 2 (i / 4); minus 32.
  const int want_scale[16] = {-31, 19, -27, 23, -7, 11, -19, 31, 2, -12, -26, 24, 26, -20, -18, 16};
  FillTwoBits(b.qs);
  // Bit 4 n + j of hmask[e % 32] set: the value is the 2-bit field, clear: minus 4.
  std::memset(b.hmask, 0x5A, 16);
  std::memset(b.hmask + 16, 0xC3, 16);
  b.d = 0x3800;  // 0.5
  std::vector<float> y(256);
  Dequantize(GgmlType::kQ3_K, &b, 256, y.data());
  for (int e = 0; e < 256; ++e) {
    const int bit = 4 * (e / 128) + e % 128 / 32;
    const int high = ((e % 32 < 16 ? 0x5A : 0xC3) >> bit) & 1;
    const int q = TwoBitsOf(e) - (high ? 0 : 4);
    EXPECT_EQ(y[e], 0.5f * static_cast<float>(want_scale[e / 16]) * static_cast<float>(q)) << e;
  }
}

TEST(Dequantize, Q5_K) {
  BlockQ5_K b;
  b.d = 0x3C00;     // 1
  b.dmin = 0x3800;  // 0.5
  const uint8_t scales[12] = {0x41, 2, 3, 4, 5, 6, 7, 8, 0x21, 0x43, 0x65, 0x87};  // as Q4_K
  std::memcpy(b.scales, scales, 12);
  // Sub-blocks 2g and 2g + 1 take the low and high nibbles of qs[32g .. 32g + 31]: g + 1, g + 9.
  for (int g = 0; g < 4; ++g) std::memset(b.qs + 32 * g, (g + 1) | ((g + 9) << 4), 32);
  // Bit s of qh[l] is the 5th bit of value l of sub-block s: bits 1, 2, 4, 7 for l < 16, bits 0,
  // 3, 5, 6 from 16.
  std::memset(b.qh, 0x96, 16);
  std::memset(b.qh + 16, 0x69, 16);
  std::vector<float> y(256);
  Dequantize(GgmlType::kQ5_K, &b, 256, y.data());
  // scale * q - 0.5 * min with the (scale, min) pairs of the Q4_K test
  const float first[8] = {1 * 1 - 2.5f, 2 * 25 - 3.0f, 3 * 18 - 3.5f, 4 * 10 - 4.0f,
                          17 * 19 - 1.0f, 3 * 11 - 2.0f, 5 * 4 - 3.0f, 7 * 28 - 4.0f};
  const float second[8] = {1 * 17 - 2.5f, 2 * 9 - 3.0f, 3 * 2 - 3.5f, 4 * 26 - 4.0f,
                           17 * 3 - 1.0f, 3 * 27 - 2.0f, 5 * 20 - 3.0f, 7 * 12 - 4.0f};
  for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], (i % 32 < 16 ? first : second)[i / 32]) << i;
}

TEST(Dequantize, Q6_K) {
  BlockQ6_K b;
  std::memset(b.ql, 0x21, sizeof(b.ql));  // low nibble 1, high nibble 2
  std::memset(b.qh, 0xE4, sizeof(b.qh));  // 2-bit fields 0, 1, 2, 3
  for (int i = 0; i < 16; ++i) b.scales[i] = static_cast<int8_t>(i + 1);
  b.d = 0x3C00;
  std::vector<float> y(256);
  Dequantize(GgmlType::kQ6_K, &b, 256, y.data());
  // q1 = 1 - 32, q2 = (1 | 16) - 32, q3 = (2 | 32) - 32, q4 = (2 | 48) - 32.
  EXPECT_EQ(y[0], 1 * -31.0f);
  EXPECT_EQ(y[16], 2 * -31.0f);
  EXPECT_EQ(y[32], 3 * -15.0f);
  EXPECT_EQ(y[64], 5 * 2.0f);
  EXPECT_EQ(y[96], 7 * 18.0f);
  EXPECT_EQ(y[112], 8 * 18.0f);
  EXPECT_EQ(y[128], 9 * -31.0f);
  EXPECT_EQ(y[255], 16 * 18.0f);
}

// ggml's kvalues_iq4nl, written out here rather than taken from the header, so that a wrong entry
// there fails.
constexpr int kLevels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

TEST(Dequantize, IQ4_NL) {
  BlockIQ4_NL b[2];
  b[0].d = 0x3800;  // 0.5
  b[1].d = 0xC000;  // -2
  for (int i = 0; i < 16; ++i) {
    b[0].qs[i] = static_cast<uint8_t>(i | ((15 - i) << 4));  // indices 0..15, then 15..0
    b[1].qs[i] = static_cast<uint8_t>(((i * 7) % 16) | (((i * 3) % 16) << 4));
  }
  std::vector<float> y(64);
  Dequantize(GgmlType::kIQ4_NL, b, 64, y.data());
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(y[i], 0.5f * kLevels[i]) << i;
    EXPECT_EQ(y[16 + i], 0.5f * kLevels[15 - i]) << i;
    EXPECT_EQ(y[32 + i], -2.0f * kLevels[(i * 7) % 16]) << i;
    EXPECT_EQ(y[48 + i], -2.0f * kLevels[(i * 3) % 16]) << i;
  }
}

TEST(Dequantize, IQ4_XS) {
  BlockIQ4_XS b;
  b.d = 0x3400;  // 0.25
  // Sub-block s's 6-bit scale: bits 0-3 from scales_l[s / 2] (low nibble for even s), bits 4-5
  // from scales_h at bit 2 s; minus 32.
  const int ls[8] = {0, 63, 32, 31, 17, 48, 5, 40};
  b.scales_h = 0;
  for (int s = 0; s < 8; ++s) b.scales_h = static_cast<uint16_t>(b.scales_h | ((ls[s] >> 4) << (2 * s)));
  for (int j = 0; j < 4; ++j) b.scales_l[j] = static_cast<uint8_t>((ls[2 * j] & 15) | ((ls[2 * j + 1] & 15) << 4));
  for (int i = 0; i < 128; ++i) b.qs[i] = static_cast<uint8_t>((i % 16) | (((i + 5) % 16) << 4));
  std::vector<float> y(256);
  Dequantize(GgmlType::kIQ4_XS, &b, 256, y.data());
  for (int s = 0; s < 8; ++s) {
    const float dl = 0.25f * static_cast<float>(ls[s] - 32);
    for (int i = 0; i < 16; ++i) {
      EXPECT_EQ(y[32 * s + i], dl * static_cast<float>(kLevels[i])) << s << " " << i;
      EXPECT_EQ(y[32 * s + 16 + i], dl * static_cast<float>(kLevels[(i + 5) % 16])) << s << " " << i;
    }
  }
}

TEST(Traits, KnowsLayoutsAndNamesTheRest) {
  EXPECT_EQ(TraitsOf(20)->type_size, 18);   // IQ4_NL
  EXPECT_EQ(TraitsOf(23)->type_size, 136);  // IQ4_XS
  EXPECT_EQ(TraitsOf(12)->type_size, 144);
  EXPECT_EQ(TraitsOf(30)->name, "BF16");
  EXPECT_FALSE(TraitsOf(16).has_value());
  EXPECT_EQ(TypeName(16), "IQ2_XXS");
  EXPECT_EQ(TypeName(1000), "type 1000");
}

}  // namespace
}  // namespace sculpt::kernels
