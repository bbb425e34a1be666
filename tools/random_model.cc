// sculpt-random-model: a GGUF of any llada/llama shape with random weights, for speed measurements
// on shapes no shipped model has (e.g. the 91M-parameter shape of issue 8's llama.cpp figures).
// The tokenizer metadata is copied from another GGUF (--vocab-from), so text prompts work.
// Weights: N(0, 0.02) from a fixed seed; norms 1. Types F32, F16, Q8_0 and Q4_0 (quantized with
// ggml's reference rounding), Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q5_K, IQ4_NL and IQ4_XS (nearest
// levels of a simple min/max fit).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "denoiser/gguf/gguf.h"
#include "denoiser/gguf/writer.h"
#include "kernels/quant.h"

namespace sculpt {
namespace {

using kernels::GgmlType;

// ggml block layouts: Q8_0 = f16 d + 32 int8; Q4_0 = f16 d + 16 bytes of nibbles (x = d * (q - 8)).
std::vector<uint8_t> QuantizeQ8_0(const std::vector<float>& x) {
  std::vector<uint8_t> out;
  for (size_t b = 0; b < x.size(); b += 32) {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b + i]));
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t h = kernels::FloatToHalf(d);
    out.insert(out.end(), reinterpret_cast<const uint8_t*>(&h), reinterpret_cast<const uint8_t*>(&h) + 2);
    for (int i = 0; i < 32; ++i) out.push_back(static_cast<uint8_t>(static_cast<int8_t>(std::round(x[b + i] * id))));
  }
  return out;
}

std::vector<uint8_t> QuantizeQ4_0(const std::vector<float>& x) {
  std::vector<uint8_t> out;
  for (size_t b = 0; b < x.size(); b += 32) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < 32; ++i) {
      if (std::fabs(x[b + i]) > amax) {
        amax = std::fabs(x[b + i]);
        max = x[b + i];
      }
    }
    const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t h = kernels::FloatToHalf(d);
    out.insert(out.end(), reinterpret_cast<const uint8_t*>(&h), reinterpret_cast<const uint8_t*>(&h) + 2);
    for (int i = 0; i < 16; ++i) {
      const auto q = [&](float v) { return static_cast<uint8_t>(std::min(15.0f, std::trunc(v * id + 8.5f))); };
      out.push_back(static_cast<uint8_t>(q(x[b + i]) | (q(x[b + 16 + i]) << 4)));
    }
  }
  return out;
}

void PutHalf(std::vector<uint8_t>& out, float v) {
  const uint16_t h = kernels::FloatToHalf(v);
  out.push_back(static_cast<uint8_t>(h));
  out.push_back(static_cast<uint8_t>(h >> 8));
}

// q in [0, top] nearest to (v - low) / d (0 when d is 0).
int Level(float v, float low, float d, int top) {
  if (d == 0.0f) return 0;
  return std::clamp(static_cast<int>(std::lround((v - low) / d)), 0, top);
}

// Q4_1 / Q5_1 (w = d q + m over the block's range) and Q5_0 (w = d (q - 16), d from the value of
// largest magnitude, as Q4_0): 32-value blocks; bits 4 of the 5-bit types go to qh.
std::vector<uint8_t> QuantizeBlocks32(const std::vector<float>& x, GgmlType type) {
  std::vector<uint8_t> out;
  const int bits = type == GgmlType::kQ4_1 ? 4 : 5, top = (1 << bits) - 1;
  for (size_t b = 0; b < x.size(); b += 32) {
    const float* v = x.data() + b;
    const auto [lo, hi] = std::minmax_element(v, v + 32);
    int q[32];
    if (type == GgmlType::kQ5_0) {
      const float big = std::fabs(*lo) > std::fabs(*hi) ? *lo : *hi;
      const float d = kernels::HalfToFloat(kernels::FloatToHalf(big / -16.0f));
      PutHalf(out, d);
      for (int i = 0; i < 32; ++i) q[i] = Level(v[i], -16.0f * d, d, top);
    } else {
      const float d = kernels::HalfToFloat(kernels::FloatToHalf((*hi - *lo) / top));
      const float m = kernels::HalfToFloat(kernels::FloatToHalf(*lo));
      PutHalf(out, d);
      PutHalf(out, m);
      for (int i = 0; i < 32; ++i) q[i] = Level(v[i], m, d, top);
    }
    if (bits == 5) {
      uint32_t qh = 0;
      for (int i = 0; i < 32; ++i) qh |= static_cast<uint32_t>(q[i] >> 4) << i;
      for (int k = 0; k < 4; ++k) out.push_back(static_cast<uint8_t>(qh >> (8 * k)));
    }
    for (int i = 0; i < 16; ++i) {
      out.push_back(static_cast<uint8_t>((q[i] & 0xF) | ((q[i + 16] & 0xF) << 4)));
    }
  }
  return out;
}

// Q5_K: super-blocks of 256, 8 sub-blocks of 32 with a 6-bit scale and min each (w = d sc q -
// dmin m), the pairs packed into 12 bytes as kernels::ScaleMinK4 reads them.
std::vector<uint8_t> QuantizeQ5_K(const std::vector<float>& x) {
  std::vector<uint8_t> out;
  for (size_t b = 0; b < x.size(); b += 256) {
    const float* v = x.data() + b;
    float scale[8], min[8], max_scale = 0.0f, max_min = 0.0f;
    for (int s = 0; s < 8; ++s) {
      const auto [lo, hi] = std::minmax_element(v + 32 * s, v + 32 * s + 32);
      min[s] = -std::min(0.0f, *lo);
      scale[s] = (*hi + min[s]) / 31.0f;
      max_scale = std::max(max_scale, scale[s]);
      max_min = std::max(max_min, min[s]);
    }
    const float d = kernels::HalfToFloat(kernels::FloatToHalf(max_scale / 63.0f));
    const float dmin = kernels::HalfToFloat(kernels::FloatToHalf(max_min / 63.0f));
    int sc[8], mn[8];
    for (int s = 0; s < 8; ++s) {
      sc[s] = Level(scale[s], 0.0f, d, 63);
      mn[s] = Level(min[s], 0.0f, dmin, 63);
    }
    PutHalf(out, d);
    PutHalf(out, dmin);
    uint8_t packed[12];
    for (int j = 0; j < 4; ++j) {
      packed[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
      packed[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
      packed[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
    }
    out.insert(out.end(), packed, packed + 12);
    uint8_t qh[32] = {}, qs[128] = {};
    for (int s = 0; s < 8; ++s) {
      for (int i = 0; i < 32; ++i) {
        const int q = Level(v[32 * s + i], -dmin * mn[s], d * sc[s], 31);
        qh[i] = static_cast<uint8_t>(qh[i] | ((q >> 4) << s));
        uint8_t& byte = qs[(s / 2) * 32 + i];
        byte = static_cast<uint8_t>(byte | ((q & 0xF) << (4 * (s % 2))));
      }
    }
    out.insert(out.end(), qh, qh + 32);
    out.insert(out.end(), qs, qs + 128);
  }
  return out;
}

// The index of the IQ4 level nearest to v (ties to the lower level).
int NearestIq4(float v) {
  int best = 0;
  for (int i = 1; i < 16; ++i) {
    if (std::fabs(kernels::kIq4Levels[i] - v) < std::fabs(kernels::kIq4Levels[best] - v)) best = i;
  }
  return best;
}

// One IQ4 block's 16 index bytes for the 32 values at v with step dl (indices 8, level 1, when dl
// is 0), low nibbles first.
void PutIq4Indices(const float* v, float dl, std::vector<uint8_t>& out) {
  const float inv = dl != 0.0f ? 1.0f / dl : 0.0f;
  for (int i = 0; i < 16; ++i) {
    const int lo = dl != 0.0f ? NearestIq4(v[i] * inv) : 8;
    const int hi = dl != 0.0f ? NearestIq4(v[i + 16] * inv) : 8;
    out.push_back(static_cast<uint8_t>(lo | (hi << 4)));
  }
}

// The value of largest magnitude among v[0, n), with its sign.
float SignedMax(const float* v, int n) {
  float m = 0.0f;
  for (int i = 0; i < n; ++i) m = std::fabs(v[i]) > std::fabs(m) ? v[i] : m;
  return m;
}

// IQ4_NL (w = d level, 32-value blocks) and IQ4_XS (super-blocks of 256: d and a 6-bit signed
// scale ls - 32 per 32 values). Each block's value of largest magnitude maps to level -127 (ggml's
// first guess; it then searches nearby scales, which a speed model does not need).
std::vector<uint8_t> QuantizeIq4(const std::vector<float>& x, GgmlType type) {
  std::vector<uint8_t> out;
  if (type == GgmlType::kIQ4_NL) {
    for (size_t b = 0; b < x.size(); b += 32) {
      const float d = kernels::HalfToFloat(kernels::FloatToHalf(SignedMax(x.data() + b, 32) / -127.0f));
      PutHalf(out, d);
      PutIq4Indices(x.data() + b, d, out);
    }
    return out;
  }
  for (size_t b = 0; b < x.size(); b += 256) {
    const float* v = x.data() + b;
    float want[8], top = 0.0f;  // each sub-block's own step, and the largest
    for (int s = 0; s < 8; ++s) {
      want[s] = SignedMax(v + 32 * s, 32) / -127.0f;
      top = std::fabs(want[s]) > std::fabs(top) ? want[s] : top;
    }
    const float d = kernels::HalfToFloat(kernels::FloatToHalf(top / -32.0f));
    int ls[8];
    uint16_t high = 0;
    for (int s = 0; s < 8; ++s) {
      const int l = d != 0.0f ? std::clamp(static_cast<int>(std::lround(want[s] / d)), -32, 31) : 0;
      ls[s] = l + 32;
      high = static_cast<uint16_t>(high | ((ls[s] >> 4) << (2 * s)));
    }
    PutHalf(out, d);
    out.push_back(static_cast<uint8_t>(high));
    out.push_back(static_cast<uint8_t>(high >> 8));
    for (int j = 0; j < 4; ++j) out.push_back(static_cast<uint8_t>((ls[2 * j] & 0xF) | ((ls[2 * j + 1] & 0xF) << 4)));
    for (int s = 0; s < 8; ++s) PutIq4Indices(v + 32 * s, d * static_cast<float>(ls[s] - 32), out);
  }
  return out;
}

// The inverse of kernels::K2Bits: the 2-bit field of value e in a Q2_K / Q3_K super-block.
void PutTwoBits(uint8_t* qs, int e, int v) {
  qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((v & 3) << (2 * (e % 128 / 32)));
}

// Q2_K (w = d sc q - dmin m, 4-bit sc and m per 16 values, q in 0..3) and Q3_K (w = d (sc - 32)
// q, 6-bit sc per 16 values, q in -4..3; only positive scales here): super-blocks of 256.
std::vector<uint8_t> QuantizeQ2_3K(const std::vector<float>& x, GgmlType type) {
  std::vector<uint8_t> out;
  const bool q2 = type == GgmlType::kQ2_K;
  for (size_t b = 0; b < x.size(); b += 256) {
    const float* v = x.data() + b;
    float scale[16], min[16], max_scale = 0.0f, max_min = 0.0f;
    for (int s = 0; s < 16; ++s) {
      const auto [lo, hi] = std::minmax_element(v + 16 * s, v + 16 * s + 16);
      min[s] = q2 ? -std::min(0.0f, *lo) : 0.0f;
      scale[s] = q2 ? (*hi + min[s]) / 3.0f : std::max(-*lo, *hi) / 4.0f;
      max_scale = std::max(max_scale, scale[s]);
      max_min = std::max(max_min, min[s]);
    }
    const float d = kernels::HalfToFloat(kernels::FloatToHalf(max_scale / (q2 ? 15.0f : 31.0f)));
    const float dmin = kernels::HalfToFloat(kernels::FloatToHalf(max_min / 15.0f));
    uint8_t qs[64] = {}, hmask[32] = {}, scales[16] = {}, packed[12] = {};
    for (int s = 0; s < 16; ++s) {
      const int sc = Level(scale[s], 0.0f, d, q2 ? 15 : 31), m = q2 ? Level(min[s], 0.0f, dmin, 15) : 0;
      scales[s] = static_cast<uint8_t>(q2 ? sc | (m << 4) : sc + 32);
      for (int i = 0; i < 16; ++i) {
        const int e = 16 * s + i;
        if (q2) {
          PutTwoBits(qs, e, Level(v[e], -dmin * m, d * sc, 3));
          continue;
        }
        const int q = Level(v[e], -4.0f * d * sc, d * sc, 7);  // q + 4
        PutTwoBits(qs, e, q);
        hmask[e % 32] |= static_cast<uint8_t>((q >> 2) << (4 * (e / 128) + e % 128 / 32));
      }
    }
    if (q2) {
      out.insert(out.end(), scales, scales + 16);
      out.insert(out.end(), qs, qs + 64);
      PutHalf(out, d);
      PutHalf(out, dmin);
      continue;
    }
    for (int i = 0; i < 16; ++i) {  // the inverse of kernels::Q3KScale
      packed[i % 8] |= static_cast<uint8_t>((scales[i] & 0xF) << (i < 8 ? 0 : 4));
      packed[8 + i % 4] |= static_cast<uint8_t>((scales[i] >> 4) << (2 * (i / 4)));
    }
    out.insert(out.end(), hmask, hmask + 32);
    out.insert(out.end(), qs, qs + 64);
    out.insert(out.end(), packed, packed + 12);
    PutHalf(out, d);
  }
  return out;
}

int Fail(const std::string& msg) {
  std::fprintf(stderr, "sculpt-random-model: error: %s\n", msg.c_str());
  return 1;
}

}  // namespace
}  // namespace sculpt

int main(int argc, char** argv) {
  using namespace sculpt;
  CLI::App app{"Write a random-weight llada/llama GGUF of any shape"};
  std::string arch = "llada", type = "f32", vocab_from, out;
  int n_embd = 768, n_layer = 12, n_head = 12, n_head_kv = 0, n_ff = 2048, n_ctx = 2048;
  uint32_t seed = 1;
  app.add_option("--arch", arch, "llada or llama")->check(CLI::IsMember({"llada", "llama"}))->capture_default_str();
  app.add_option("--n-embd", n_embd)->capture_default_str()->check(CLI::Range(32, 16384));
  app.add_option("--n-layer", n_layer)->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--n-head", n_head)->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--n-head-kv", n_head_kv, "default: n-head")->check(CLI::Range(1, 256));
  app.add_option("--n-ff", n_ff)->capture_default_str()->check(CLI::Range(32, 65536));
  app.add_option("--n-ctx", n_ctx)->capture_default_str()->check(CLI::Range(16, 1 << 20));
  app.add_option("--type", type, "f32, f16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q5_k, "
                 "iq4_nl or iq4_xs (matrices; norms stay f32)")
      ->check(CLI::IsMember({"f32", "f16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k",
                             "q5_k", "iq4_nl", "iq4_xs"}))
      ->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  app.add_option("--vocab-from", vocab_from, "GGUF whose tokenizer metadata (and vocabulary size) to use")->required();
  app.add_option("--out", out, "Output GGUF")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (n_head_kv == 0) n_head_kv = n_head;
  if (n_embd % n_head != 0 || n_head % n_head_kv != 0) return Fail("n-embd must divide by n-head, n-head by n-head-kv");
  if (type != "f32" && type != "f16" && (n_embd % 32 != 0 || n_ff % 32 != 0)) {
    return Fail("quantized types need n-embd and n-ff divisible by 32");
  }
  if ((type.back() == 'k' || type == "iq4_xs") && (n_embd % 256 != 0 || n_ff % 256 != 0)) {
    return Fail(type + " needs n-embd and n-ff divisible by 256");
  }
  auto vocab = gguf::File::Open(vocab_from);
  if (!vocab.ok()) return Fail(vocab.status().message());
  const gguf::Value* tokens = vocab->Find("tokenizer.ggml.tokens");
  if (!tokens || tokens->items.empty()) return Fail(vocab_from + " has no tokenizer.ggml.tokens");
  const int64_t n_vocab = static_cast<int64_t>(tokens->items.size());

  gguf::Writer w;
  w.SetString("general.architecture", arch);
  w.SetString("general.name", arch + "-random-" + std::to_string(n_embd) + "x" + std::to_string(n_layer) + "-" + type);
  w.SetU32(arch + ".context_length", static_cast<uint32_t>(n_ctx));
  w.SetU32(arch + ".embedding_length", static_cast<uint32_t>(n_embd));
  w.SetU32(arch + ".block_count", static_cast<uint32_t>(n_layer));
  w.SetU32(arch + ".feed_forward_length", static_cast<uint32_t>(n_ff));
  w.SetU32(arch + ".attention.head_count", static_cast<uint32_t>(n_head));
  w.SetU32(arch + ".attention.head_count_kv", static_cast<uint32_t>(n_head_kv));
  w.SetF32(arch + ".rope.freq_base", 10000.0f);
  w.SetF32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
  if (arch == "llada") w.SetBool("diffusion.shift_logits", false);
  for (const auto& [key, value] : vocab->metadata()) {
    if (key.rfind("tokenizer.", 0) == 0) w.Set(std::string(key), value);
  }

  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  const GgmlType mt = type == "f32"    ? GgmlType::kF32
                     : type == "f16"  ? GgmlType::kF16
                     : type == "q8_0" ? GgmlType::kQ8_0
                     : type == "q4_0" ? GgmlType::kQ4_0
                     : type == "q4_1" ? GgmlType::kQ4_1
                     : type == "q5_0" ? GgmlType::kQ5_0
                     : type == "q5_1" ? GgmlType::kQ5_1
                     : type == "q2_k" ? GgmlType::kQ2_K
                     : type == "q3_k" ? GgmlType::kQ3_K
                     : type == "iq4_nl" ? GgmlType::kIQ4_NL
                     : type == "iq4_xs" ? GgmlType::kIQ4_XS
                                      : GgmlType::kQ5_K;
  auto matrix = [&](const std::string& name, int64_t cols, int64_t rows) {
    std::vector<float> x(static_cast<size_t>(cols * rows));
    for (float& v : x) v = normal(rng);
    std::vector<uint8_t> bytes;
    if (mt == GgmlType::kF32) {
      bytes.assign(reinterpret_cast<const uint8_t*>(x.data()), reinterpret_cast<const uint8_t*>(x.data() + x.size()));
    } else if (mt == GgmlType::kF16) {
      for (float v : x) {
        const uint16_t h = kernels::FloatToHalf(v);
        bytes.push_back(static_cast<uint8_t>(h));
        bytes.push_back(static_cast<uint8_t>(h >> 8));
      }
    } else if (mt == GgmlType::kQ8_0 || mt == GgmlType::kQ4_0) {
      bytes = mt == GgmlType::kQ8_0 ? QuantizeQ8_0(x) : QuantizeQ4_0(x);
    } else {
      bytes = mt == GgmlType::kIQ4_NL || mt == GgmlType::kIQ4_XS ? QuantizeIq4(x, mt)
              : mt == GgmlType::kQ5_K                               ? QuantizeQ5_K(x)
              : mt == GgmlType::kQ2_K || mt == GgmlType::kQ3_K ? QuantizeQ2_3K(x, mt)
                                                                 : QuantizeBlocks32(x, mt);
    }
    w.AddTensor(name, mt, {cols, rows}, bytes);
  };
  auto ones = [&](const std::string& name, int64_t n) {
    const std::vector<float> x(static_cast<size_t>(n), 1.0f);
    w.AddTensor(name, GgmlType::kF32, {n}, {reinterpret_cast<const uint8_t*>(x.data()), x.size() * 4});
  };
  const int64_t head_dim = n_embd / n_head, kv = head_dim * n_head_kv;
  matrix("token_embd.weight", n_embd, n_vocab);
  for (int l = 0; l < n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    ones(p + "attn_norm.weight", n_embd);
    matrix(p + "attn_q.weight", n_embd, n_embd);
    matrix(p + "attn_k.weight", n_embd, kv);
    matrix(p + "attn_v.weight", n_embd, kv);
    matrix(p + "attn_output.weight", n_embd, n_embd);
    ones(p + "ffn_norm.weight", n_embd);
    matrix(p + "ffn_gate.weight", n_embd, n_ff);
    matrix(p + "ffn_up.weight", n_embd, n_ff);
    matrix(p + "ffn_down.weight", n_ff, n_embd);
  }
  ones("output_norm.weight", n_embd);
  matrix("output.weight", n_embd, n_vocab);
  const Status st = w.WriteFile(out);
  if (!st.ok()) return Fail(st.message());
  return 0;
}
