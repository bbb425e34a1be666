// `sculpt bench kernels --quick --json` runs and reports every figure the interface promises, and
// the BLAS comparison backend computes the same function (not the same bits).
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

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
    const std::string dtype = e["dtype"];
    EXPECT_TRUE(dtype == "f32" || dtype == "q8_0" || dtype == "q4_0" || dtype == "q4_k") << dtype;
    if (dtype != "f32") {
      EXPECT_GT(e["float_path_gflops"].get<double>(), 0.0);
    }
  }
  ASSERT_FALSE(j["gemv"].empty());
  EXPECT_GT(j["gemv"][0]["gbs"].get<double>(), 0.0);
  // the read probe timed in turn with the GEMV, and the GEMV's share of it
  const double window = j["gemv"][0]["window_bandwidth_gbs"].get<double>();
  EXPECT_GT(window, 0.0);
  EXPECT_NEAR(j["gemv"][0]["window_fraction"].get<double>(),
              j["gemv"][0]["gbs"].get<double>() / window, 1e-9);
  EXPECT_NE(j["gemv"][0]["dtype"], "f32");  // the GEMV figures are for quantized weights
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

// --kernels float and the default int8 kernels through the command line: the float path meets
// the strict tolerance on a quantized file, the int8 path quantizes activations (further from the
// float64 values than the strict tolerance, within the suggested one, like llama.cpp).
TEST(Bench, FloatAndInt8KernelsFromTheCommandLine) {
  SCULPT_REQUIRE_REFERENCE(ref);
  const auto c = testing::ReadJson(ref / "logits/llama-tiny.q8_0.medium.json");
  std::string ids;
  for (int t : c["tokens"]) ids += std::to_string(t) + " ";
  const auto want = testing::ReadFloats(ref / "logits" / c["reference_file"].get<std::string>());
  for (const std::string kernels : {"float", "int8"}) {
    const auto out = std::filesystem::path(::testing::TempDir()) / (kernels + ".f32");
    RunSculpt("logits --kernels " + kernels + " -m " + (ref / "models/llama-tiny.q8_0.gguf").string() +
              " --tokens '" + ids + "' --out " + out.string());
    const auto got = testing::ReadFloats(out);
    ASSERT_EQ(got.size(), want.size());
    const double diff = testing::MaxAbsDiff(got.data(), want.data(), got.size());
    if (kernels == "float") {
      EXPECT_LE(diff, c["strict_tolerance"].get<double>());
    } else {
      EXPECT_GT(diff, c["strict_tolerance"].get<double>());
      EXPECT_LE(diff, c["suggested_tolerance"].get<double>());
    }
  }
}

}  // namespace
}  // namespace sculpt

namespace sculpt {
namespace {

std::pair<int, std::string> RunSculptStatus(const std::string& args) {
  FILE* p = popen((std::string(SCULPT_BINARY) + " " + args + " 2>&1").c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), p)) > 0;) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, out};
}

// `sculpt bench decode --json --svg`: the interface's fields for every configuration, one baseline
// that agrees with itself, exact configurations labelled, the plot written.
TEST(Bench, DecodeReportsEveryConfiguration) {
  SCULPT_REQUIRE_REFERENCE(ref);
  const std::string svg = ::testing::TempDir() + "/decode_bench.svg";
  std::remove(svg.c_str());
  const auto j = nlohmann::json::parse(RunSculpt(
      "bench decode --json -n 16 --reps 1 -t 1 --svg " + svg + " --diffusion-model " +
      (ref / "models/llada-tiny.gguf").string() + " --ar-model " + (ref / "models/llama-tiny.gguf").string()));
  ASSERT_TRUE(j.contains("machine"));
  ASSERT_GE(j["configs"].size(), 5u);
  int baselines = 0, ar = 0;
  for (const auto& c : j["configs"]) {
    for (const char* key : {"name", "kind", "baseline", "cache", "steps", "block_length", "algorithm", "threshold",
                            "tokens_per_s", "ms_per_step", "forward_passes", "ttft_ms", "agreement", "task_score",
                            "task_edit_similarity"}) {
      EXPECT_TRUE(c.contains(key)) << key;
    }
    EXPECT_GT(c["tokens_per_s"].get<double>(), 0.0) << c["name"];
    EXPECT_GE(c["agreement"].get<double>(), 0.0);
    EXPECT_LE(c["agreement"].get<double>(), 1.0);
    if (c["baseline"].get<bool>()) {
      ++baselines;
      EXPECT_EQ(c["agreement"].get<double>(), 1.0);
      EXPECT_EQ(c["cache"], "none");
      EXPECT_EQ(c["steps"], 16);
    }
    ar += c["kind"] == "autoregressive";
    EXPECT_EQ(c["exact"].get<bool>(), c["cache"] == "none");
  }
  EXPECT_EQ(baselines, 1);
  EXPECT_EQ(ar, 1);
  std::ifstream f(svg);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.rfind("<svg", 0), 0u);
  EXPECT_NE(text.find("autoregressive"), std::string::npos);
}

TEST(Bench, DecodeRejectsBadConfigurations) {
  SCULPT_REQUIRE_REFERENCE(ref);
  const std::string file = ::testing::TempDir() + "/decode_configs.json";
  const std::string models = " --diffusion-model " + (ref / "models/llada-tiny.gguf").string();
  for (const char* bad : {
           "[]",                                                           // empty
           R"([{"name": "a", "cache": "dual"}])",                           // no baseline
           R"([{"name": "b", "baseline": true, "cache": "prefix"}])",       // cached baseline
           R"([{"name": "b", "baseline": true}, {"name": "x", "cache": "huge"}])",
           R"([{"name": "b", "baseline": true}, {"name": "x", "block_length": 5}])",  // 16 % 5
           R"([{"name": "b", "baseline": true}, {"name": "x", "kind": "autoregressive"}])",  // no AR model
           R"([{"name": "b", "baseline": true}, {"name": "x", "steps": "many"}])",
           R"([{"name": "b", "baseline": true}, {"name": "x", "threshold": 0.9, "factor": 1.0}])",
           R"([{"name": "b", "baseline": true, "colour": 1}])",
           "not json"}) {
    std::ofstream(file) << bad;
    const auto [code, out] = RunSculptStatus("bench decode -n 16 --reps 1 --configs " + file + models);
    EXPECT_NE(code, 0) << bad;
    EXPECT_EQ(out.rfind("sculpt: error: ", 0), 0u) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  }
}

// --compare-llamacpp runs the given llama-diffusion-cli with the configuration's file, canvas, steps
// and blocks and reads its "time per step" line. A stand-in script records its arguments here (no
// llama.cpp build is available on these machines).
TEST(Bench, DecodeComparesWithLlamaCpp) {
  const std::string dir = ::testing::TempDir() + "/fake-llamacpp";
  std::filesystem::create_directories(dir);
  const std::string fake = dir + "/llama-diffusion-cli", args = dir + "/args.txt";
  std::ofstream(fake) << "#!/bin/sh\nprintf '%s\\n' \"$@\" > " << args
                      << "\necho 'total time: 80.00ms, time per step: 10.00ms, sampling time per step: 1.00ms' >&2\n";
  std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
  const std::string configs = dir + "/configs.json";
  std::ofstream(configs) << R"([{"name": "base", "baseline": true}, {"name": "dual", "cache": "dual", "block_length": 4}])";
  const std::string model = std::string(SCULPT_SOURCE_DIR) + "/models/sculpt-code-diffusion.gguf";
  const auto r = nlohmann::json::parse(RunSculpt("bench decode --diffusion-model " + model +
                                                 " --prompt 'def f():' -n 8 --reps 1 --json --configs " + configs +
                                                 " --compare-llamacpp " + fake));
  const auto& base = r["configs"][0];
  ASSERT_EQ(base["name"], "base");
  EXPECT_DOUBLE_EQ(base["llamacpp_ms_per_step"].get<double>(), 10.0);
  EXPECT_NEAR(base["vs_llamacpp"].get<double>(), 10.0 / base["ms_per_step"].get<double>(), 1e-9);
  EXPECT_TRUE(r["configs"][1]["llamacpp_ms_per_step"].is_null());  // cached: nothing to compare with
  std::ifstream in(args);
  std::vector<std::string> argv;
  for (std::string a; std::getline(in, a);) argv.push_back(a);
  auto after = [&](const std::string& flag) {
    auto it = std::find(argv.begin(), argv.end(), flag);
    return it != argv.end() && it + 1 != argv.end() ? *(it + 1) : std::string("<missing>");
  };
  EXPECT_EQ(after("-m"), model);
  EXPECT_EQ(after("-p"), "def f():");
  EXPECT_EQ(after("--diffusion-steps"), "8");
  EXPECT_EQ(after("--temp"), "0");
  // The canvas: the prompt's tokens (4 for "def f():" in the embedded vocabulary) + 8 generated.
  EXPECT_EQ(after("-ub"), "12");

  // A llama.cpp that fails, and a path that is not a program: one error line, non-zero exit.
  std::ofstream(fake) << "#!/bin/sh\necho 'error: unknown argument: -ub' >&2\nexit 1\n";
  auto [code, out] = RunSculptStatus("bench decode --diffusion-model " + model + " --prompt x -n 8 --reps 1 --configs " +
                                     configs + " --compare-llamacpp " + fake);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("unknown argument"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  std::tie(code, out) = RunSculptStatus("bench decode --prompt x -n 8 --reps 1 --compare-llamacpp " + dir);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("not an executable file"), std::string::npos) << out;
}

}  // namespace
}  // namespace sculpt
