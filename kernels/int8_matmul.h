// Quantized weights times int8-quantized activations (the default for every quantized weight
// type, as llama.cpp does; --kernels float keeps activations in float instead).
//
// Activations: each row of x is cut into blocks of the weight's block size B (16 or 32); a block
// gets d = max|x| / 127 and q = nearbyint(x / d) in [-127, 127] (x * (1/d), round to nearest even),
// and s = sum of its q. Weights are packed as unsigned bytes u = q_w + offset (Q8_0: +128, Q6_K:
// +32, Q5_0: +16, Q4_0: +8, Q4_1 / Q5_1 / Q4_K / Q5_K: +0; IQ4: nibbles of level indices, looked
// up as level + 127), so an output's block dot product is
// the exact integer
//   isum = sum_k u_k * q_k - offset * s.
// The float part, per output and per block in k order (acc starting at 0):
//   acc = fma(float(isum), d * scale, acc)
//   acc = fma(float(-s), d * min, acc)          (types with a min: w = scale * q - min)
// Integer sums are exact whatever their order, and the float operations are the same on every
// target, so a row's result depends neither on the batch, the threads nor the SIMD target.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/packed.h"

namespace sculpt::kernels {

struct QuantizedRows {
  int64_t m = 0, k = 0, block = 0;
  std::vector<int8_t> q;     // [m, k]
  std::vector<float> d;      // [m, k / block]
  std::vector<int32_t> sum;  // [m, k / block]
};

// Quantizes the rows of x [m, k] in blocks of `block` values.
void QuantizeRows(const float* x, int64_t m, int64_t k, int64_t block, QuantizedRows* out);

// y tiles [t0, t1) of every row; y is [m, ldy]. w.format is kU8Quads or kU4Quads. The scalar
// twin (kernels/reference.cc).
void IntTilesScalar(const QuantizedRows& x, const PackedMatrix& w, int64_t t0, int64_t t1, float* y,
                    int64_t ldy);
// AVX-512 VNNI kernel (vpdpbusd) and the AVX2 kernel (vpmaddubsw, or the VEX vpdpbusd where the
// CPU has AVX-VNNI): the same integers and float operations as the scalar twin.
void IntTilesVnni(const QuantizedRows& x, const PackedMatrix& w, int64_t t0, int64_t t1, float* y,
                  int64_t ldy);
void IntTilesAvx2(const QuantizedRows& x, const PackedMatrix& w, int64_t t0, int64_t t1, float* y,
                  int64_t ldy);
bool CpuHasVnni();
bool CpuHasAvxVnni();
// Lets the AVX2 target use AVX-VNNI where the CPU has it (the default); tests turn it off to run
// the plain AVX2 kernels on such CPUs. Not thread-safe: set it while no product runs.
void AllowAvxVnni(bool allowed);

}  // namespace sculpt::kernels
