// Counter-based random numbers (STYLE.md rule 8): a uniform is a pure function of its key
// (seed, stream, step, position, index), so results never depend on thread order, batch mates or
// how many numbers were drawn before. The mixer is SplitMix64's finalizer applied along the key.
#pragma once

#include <cstdint>

namespace sculpt {

inline uint64_t MixBits(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct RngKey {
  uint64_t seed = 0;
  uint64_t stream = 0;    // what the numbers are for (sampling, positions, remasking, ...)
  uint64_t step = 0;
  uint64_t position = 0;
};

// 64 random bits for (key, index).
inline uint64_t RandomBits(const RngKey& k, uint64_t index) {
  uint64_t h = MixBits(k.seed + 0x9E3779B97F4A7C15ull);
  h = MixBits(h ^ (k.stream + 0x632BE59BD9B4E019ull));
  h = MixBits(h ^ (k.step + 0x85157AF5A2A3A5F3ull));
  h = MixBits(h ^ (k.position + 0xC2B2AE3D27D4EB4Full));
  return MixBits(h ^ (index + 0x165667B19E3779F9ull));
}

// Uniform double in the open interval (0, 1): 53 random bits, never 0 or 1.
inline double Uniform(const RngKey& k, uint64_t index) {
  return (static_cast<double>(RandomBits(k, index) >> 11) + 0.5) * 0x1.0p-53;
}

}  // namespace sculpt
