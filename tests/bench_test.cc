// `sculpt bench kernels --quick --json` runs and reports every figure the interface promises, and
// the BLAS comparison backend computes the same function (not the same bits).
#include <array>
#include <cstdio>

#include "tests/test_util.h"

namespace sculpt {
namespace {

std::string RunSculpt(const std::string& args) {
  FILE* p = popen((std::string(SCULPT_BINARY) + " " + args + " 2>&1").c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), p)) > 0;) out.append(buf.data(), n);
  EXPECT_EQ(pclose(p), 0) << out;
  return out;
}

TEST(Bench, KernelsJsonHasEveryFigure) {
  SCULPT_REQUIRE_REFERENCE(ref);
  const auto j = nlohmann::json::parse(
      RunSculpt("bench kernels --quick --json -m " + (ref / "models/llada-tiny.gguf").string() + " -m " +
          (ref / "models/llama-tiny.gguf").string()));
  for (const char* key : {"cpu", "threads", "peak_gflops", "bandwidth_gbs", "gemm", "gemv", "end_to_end"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_GT(j["peak_gflops"].get<double>(), 0.0);
  EXPECT_GT(j["bandwidth_gbs"].get<double>(), 0.0);
  ASSERT_FALSE(j["gemm"].empty());
  for (const auto& e : j["gemm"]) {
    for (const char* key : {"dtype", "m", "n", "k", "gflops", "openblas_gflops", "eigen_gflops"}) {
      EXPECT_TRUE(e.contains(key)) << key;
    }
    EXPECT_GT(e["gflops"].get<double>(), 0.0);
  }
  ASSERT_FALSE(j["gemv"].empty());
  EXPECT_GT(j["gemv"][0]["gbs"].get<double>(), 0.0);
  ASSERT_EQ(j["end_to_end"].size(), 2u);
  EXPECT_GT(j["end_to_end"][0]["deterministic_ms_per_step"].get<double>(), 0.0);
  EXPECT_GT(j["end_to_end"][1]["blas_tokens_per_s"].get<double>(), 0.0);
}

TEST(Bench, BlasBackendComputesTheSameFunction) {
  SCULPT_REQUIRE_REFERENCE(ref);
  const auto c = testing::ReadJson(ref / "logits/llada-tiny.q4_k.short.json");
  std::string ids;
  for (int t : c["tokens"]) ids += std::to_string(t) + " ";
  const auto out = std::filesystem::path(::testing::TempDir()) / "blas.f32";
  RunSculpt("logits --kernels blas -m " + (ref / "models/llada-tiny.q4_k.gguf").string() + " --tokens '" +
      ids + "' --out " + out.string());
  const auto got = testing::ReadFloats(out);
  const auto want = testing::ReadFloats(ref / "logits" / c["reference_file"].get<std::string>());
  ASSERT_EQ(got.size(), want.size());
  EXPECT_LE(testing::MaxAbsDiff(got.data(), want.data(), got.size()), c["strict_tolerance"].get<double>());
}

}  // namespace
}  // namespace sculpt
