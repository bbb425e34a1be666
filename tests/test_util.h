// Helpers shared by the tests: where the reference data lives, and reading its files.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace sculpt::testing {

// ../shared/reference beside the repository, or $SCULPT_REFERENCE_DIR. nullopt when absent.
inline std::optional<std::filesystem::path> ReferenceDir() {
  std::filesystem::path dir;
  if (const char* env = std::getenv("SCULPT_REFERENCE_DIR"); env && *env) {
    dir = env;
  } else {
    dir = std::filesystem::path(SCULPT_SOURCE_DIR) / ".." / "shared" / "reference";
  }
  if (!std::filesystem::is_directory(dir)) return std::nullopt;
  return std::filesystem::canonical(dir);
}

// Skips the calling test with one clear line when the reference data is not there.
#define SCULPT_REQUIRE_REFERENCE(var)                                                        \
  auto var##_opt = ::sculpt::testing::ReferenceDir();                                        \
  if (!var##_opt) {                                                                          \
    GTEST_SKIP() << "reference data not found (../shared/reference beside the repository, " \
                    "or set SCULPT_REFERENCE_DIR): reference test skipped";                 \
  }                                                                                          \
  const std::filesystem::path var = *var##_opt

inline nlohmann::json ReadJson(const std::filesystem::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

inline std::vector<float> ReadFloats(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::vector<float> v(std::filesystem::file_size(p) / sizeof(float));
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  return v;
}

inline std::vector<uint8_t> ReadBytes(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

inline float MaxAbsDiff(const float* a, const float* b, size_t n) {
  float m = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    const float d = std::abs(a[i] - b[i]);
    if (!(d <= m)) m = d;  // NaN propagates as a failure
  }
  return m;
}

}  // namespace sculpt::testing
