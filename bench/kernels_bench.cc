#include "bench/kernels_bench.h"

#include <Eigen/Dense>
#include <cctype>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string_view>

#include "bench/machine.h"
#include "engine/engine.h"
#include "kernels/blas.h"
#include "kernels/kernels.h"
#include "kernels/packed.h"
#include "kernels/simd.h"

namespace sculpt::bench {

namespace {

using kernels::GgmlType;
using Clock = std::chrono::steady_clock;

// The interface's spelling of a weight type: "f32", "q8_0", "q4_k" (GGUF's names in lower case).
std::string DtypeName(std::string_view ggml_name) {
  std::string s(ggml_name);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Seconds per call of each of fns, timed in turn (a, b, c, a, b, c, ...) so that all see the same
// machine: the minimum of each after a warm-up, over at least 5 rounds and `budget` seconds (the
// 2-vCPU machines at times deliver one slow second; the minimum of a few runs skips it). A call
// under 2 ms runs up to 3 times in a row per round: the first run after another function may find
// the data in the other core's cache (a 1-thread run leaves all the weights in one core's L2).
std::vector<double> TimeAlternately(const std::vector<std::function<void()>>& fns, double budget) {
  for (const auto& fn : fns) fn();
  std::vector<double> best(fns.size(), 1e30);
  double total = 0.0;
  for (int rep = 0; rep < 5000 && (rep < 5 || total < budget); ++rep) {
    for (size_t i = 0; i < fns.size(); ++i) {
      for (int run = 0; run < 3; ++run) {
        const auto t0 = Clock::now();
        fns[i]();
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        best[i] = std::min(best[i], s);
        total += s;
        if (s >= 2e-3) break;
      }
    }
  }
  return best;
}

// Seconds per call of fn alone: at least 5 runs and ~0.4 s.
double TimeIt(const std::function<void()>& fn) {
  return TimeAlternately({fn}, 0.4)[0];
}

// Random weights [n, k] in the given type, quantized from uniform floats.
std::vector<uint8_t> RandomWeights(GgmlType type, int64_t n, int64_t k, std::mt19937& rng) {
  const auto traits = *kernels::TraitsOf(static_cast<uint32_t>(type));
  std::vector<uint8_t> w(static_cast<size_t>(n * k / traits.block_size * traits.type_size));
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  const size_t blocks = w.size() / static_cast<size_t>(traits.type_size);
  const uint16_t scale = kernels::FloatToHalf(0.01f);
  for (size_t b = 0; b < blocks; ++b) {
    uint8_t* p = w.data() + b * static_cast<size_t>(traits.type_size);
    if (type == GgmlType::kF32) {
      const float f = (byte(rng) - 128) / 128.0f;
      std::memcpy(p, &f, 4);
    } else if (type == GgmlType::kQ6_K) {
      std::memcpy(p + 208, &scale, 2);  // d follows ql, qh and the 16 scales
    } else if (type == GgmlType::kQ2_K) {  // d and dmin follow the 16 scales and qs
      std::memcpy(p + 80, &scale, 2);
      std::memcpy(p + 82, &scale, 2);
    } else if (type == GgmlType::kQ3_K) {
      std::memcpy(p + 108, &scale, 2);  // d follows hmask, qs and the 12 scale bytes
    } else {  // Q8_0, Q4_0, IQ4_XS: d first; Q4_K, Q5_K: d, then dmin
      std::memcpy(p, &scale, 2);
      if (type == GgmlType::kQ4_K || type == GgmlType::kQ5_K) std::memcpy(p + 2, &scale, 2);
    }
  }
  return w;
}

struct Shape {
  int64_t n, k;
  const char* name;
};

// Quantized GEMV over distinct copies adding up to >= 256 MiB, one product each, so the weights
// come from memory as they would for a multi-gigabyte model, not from the L3 cache; timed in turn
// with both read loops over as many bytes (the bandwidth of the same seconds: on these machines
// it varies up to 2x within a run). `probe` is the read loops' buffer, grown as needed.
nlohmann::json MeasureGemv(const Shape& s, const std::string& dtype,
                           const kernels::WeightMatrix& raw, size_t file_bytes, const float* x,
                           float* y, int threads, double bandwidth, std::vector<float>* probe) {
  std::vector<kernels::PackedMatrix> copies;
  size_t total = 0;
  while (total < (size_t{256} << 20)) {
    copies.push_back(kernels::Pack(raw));
    total += copies.back().bytes();
  }
  const size_t probe_n = total / sizeof(float);
  if (probe->size() < probe_n) probe->resize(probe_n, 1.0f);
  const std::vector<double> t = TimeAlternately(
      {[&] {
         for (const auto& c : copies) kernels::MatMulPacked(x, 1, c, y);
       },
       [&] { ReadPass(threads, probe->data(), probe_n, false); },
       [&] { ReadPass(threads, probe->data(), probe_n, true); }},
      1.2);
  const double gbs = static_cast<double>(total) / t[0] / 1e9;
  const double window_gbs = static_cast<double>(probe_n * sizeof(float)) /
                            std::min(t[1], t[2]) / 1e9;
  return {{"dtype", dtype}, {"shape", s.name}, {"n", s.n}, {"k", s.k}, {"gbs", gbs},
          {"copies", copies.size()}, {"packed_bytes", copies[0].bytes()},
          {"file_bytes", file_bytes},
          {"weights_per_s", static_cast<double>(s.n * s.k) * copies.size() / t[0]},
          {"fraction_of_bandwidth", gbs / bandwidth}, {"window_bandwidth_gbs", window_gbs},
          {"window_fraction", gbs / window_gbs}};
}

// One model, both backends: a diffusion model runs 16 denoising steps over a 32-token prompt and
// a 96-token canvas (ms per step); a causal model decodes 64 tokens after a 32-token prompt.
nlohmann::json EndToEnd(const std::string& path, int threads) {
  nlohmann::json e = {{"model", path}};
  for (const char* backend : {"deterministic", "blas"}) {
    (void)SetKernels(backend);  // "deterministic": the default int8 kernels
    auto engine = Engine::Load(path, {.threads = threads});
    if (!engine.ok()) {
      e["error"] = engine.status().message();
      break;
    }
    GenerateRequest req;
    for (int i = 0; i < 32; ++i) req.prompt_tokens.push_back(i % 200 + 10);
    req.options.early_stop = false;
    const bool diffusion = !(*engine)->config().causal;
    req.options.n_generate = diffusion ? 96 : 64;
    if (diffusion) req.options.steps = 16;
    (void)(*engine)->Generate(req);  // warm-up
    double best = 1e30;
    GenerateResponse last;
    for (int rep = 0; rep < 3; ++rep) {
      auto r = (*engine)->Generate(req);
      if (!r.ok()) return {{"model", path}, {"error", r.status().message()}};
      if (r->result.total_ms < best) {
        best = r->result.total_ms;
        last = std::move(r).value();
      }
    }
    e["mode"] = diffusion ? "diffusion" : "autoregressive";
    const std::string key = std::string(backend);
    if (diffusion) {
      e[key + "_ms_per_step"] = best / static_cast<double>(last.result.steps);
    } else {
      e[key + "_tokens_per_s"] = static_cast<double>(last.result.ids.size()) * 1e3 / best;
    }
  }
  (void)SetKernels("int8");
  if (e.contains("deterministic_ms_per_step") && e.contains("blas_ms_per_step")) {
    e["deterministic_speed_vs_blas"] = e["blas_ms_per_step"].get<double>() / e["deterministic_ms_per_step"].get<double>();
  }
  if (e.contains("deterministic_tokens_per_s") && e.contains("blas_tokens_per_s")) {
    e["deterministic_speed_vs_blas"] = e["deterministic_tokens_per_s"].get<double>() / e["blas_tokens_per_s"].get<double>();
  }
  return e;
}

}  // namespace

Status KernelBenchReady() { return kernels::LoadBlas(); }

nlohmann::json RunKernelBench(const KernelBenchOptions& o) {
  kernels::SetThreads(o.threads);
  Eigen::setNbThreads(o.threads);
  nlohmann::json r;
  r["cpu"] = CpuName();
  r["threads"] = o.threads;
  r["simd"] = std::string(kernels::SimdTargetName(kernels::CurrentSimdTarget()));
  r["l2_cache_bytes"] = kernels::L2CacheBytes();  // what the weight blocks are sized by
  r["peak_gflops"] = MeasurePeakGflops(o.threads);
  double plain = 0.0, prefetched = 0.0;
  r["bandwidth_gbs"] = MeasureBandwidthGbs(o.threads, &plain, &prefetched);
  r["bandwidth_probes"] = {{"plain", plain}, {"prefetch", prefetched}};
  std::mt19937 rng(1);
  // An FMA burst of about 2 ms at the peak just measured.
  const double flops_per_iter = FmaBurst(o.threads, 1000) / 1000.0 / o.threads;
  const double burst_flops_per_thread = 2e-3 * r["peak_gflops"].get<double>() * 1e9 / o.threads;
  const auto burst_iters = static_cast<int64_t>(burst_flops_per_thread / flops_per_iter);
  const double burst_flops = FmaBurst(o.threads, burst_iters);

  std::vector<Shape> shapes = {{512, 256, "tiny output"}, {512, 256, "tiny ffn_up"}, {256, 512, "tiny ffn_down"}};
  if (o.quick) shapes.resize(1);
  if (!o.quick) {
    shapes.push_back({4096, 4096, "8B attn"});
    shapes.push_back({14336, 4096, "8B ffn_up"});
    shapes.push_back({4096, 14336, "8B ffn_down"});
  }
  const std::vector<int64_t> ms = o.quick ? std::vector<int64_t>{1, 64} : std::vector<int64_t>{1, 8, 32, 64, 256, 1024};
  const GgmlType dtypes[] = {GgmlType::kF32, GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_K};

  r["gemm"] = nlohmann::json::array();
  r["gemv"] = nlohmann::json::array();
  std::vector<float> probe;  // the GEMVs' read-probe buffer, as large as their copies
  for (const Shape& s : shapes) {
    const int64_t max_m = ms.back();
    std::vector<float> x(static_cast<size_t>(max_m * s.k)), y(static_cast<size_t>(max_m * s.n));
    for (float& v : x) v = std::uniform_real_distribution<float>(-1, 1)(rng);
    std::vector<float> wf(static_cast<size_t>(s.n * s.k));  // f32 weights for OpenBLAS / Eigen
    std::map<int64_t, std::pair<double, double>> baseline;  // m -> (openblas, eigen) GFLOP/s
    std::map<int64_t, double> f32_path;                       // m -> packed f32 GFLOP/s
    for (GgmlType type : dtypes) {
      if (o.quick && type != GgmlType::kF32 && type != GgmlType::kQ8_0) continue;
      const auto traits = *kernels::TraitsOf(static_cast<uint32_t>(type));
      const auto bytes = RandomWeights(type, s.n, s.k, rng);
      const kernels::WeightMatrix raw{type, bytes.data(), s.n, s.k, s.k / traits.block_size * traits.type_size};
      const kernels::PackedMatrix packed = kernels::Pack(raw);
      // Quantized types are timed on both paths: the default int8-activation kernels and the
      // float path (--kernels float) that expands the weights in registers.
      kernels::PackedMatrix packed_float;
      if (type != GgmlType::kF32) {
        (void)kernels::SetBackend("float");
        packed_float = kernels::Pack(raw);
        (void)kernels::SetBackend("int8");
      }
      for (int64_t row = 0; row < s.n; ++row) {
        kernels::Dequantize(type, bytes.data() + row * raw.row_bytes, s.k, wf.data() + row * s.k);
      }
      for (int64_t m : ms) {
        const double flops = 2.0 * static_cast<double>(m * s.n * s.k);
        // Timed in turn with an FMA burst on the same threads (so the fraction of the peak
        // compares two figures from the same seconds: these machines drift by 10 % and more over
        // a run) and, with several threads, with the same product on one thread ("2 threads never
        // slower than 1").
        std::vector<std::function<void()>> fns = {
            [&] { kernels::MatMulPacked(x.data(), m, packed, y.data()); },
            [&] { FmaBurst(o.threads, burst_iters); }};
        if (o.threads > 1) {
          fns.push_back([&] {
            kernels::SetThreads(1);
            kernels::MatMulPacked(x.data(), m, packed, y.data());
            kernels::SetThreads(o.threads);
          });
        }
        const std::vector<double> t = TimeAlternately(fns, o.threads > 1 ? 1.2 : 0.8);
        const double gflops = flops / t[0] / 1e9, window_peak = burst_flops / t[1] / 1e9;
        nlohmann::json e = {{"dtype", DtypeName(traits.name)}, {"shape", s.name}, {"m", m},
                            {"n", s.n}, {"k", s.k}, {"gflops", gflops},
                            {"window_peak_gflops", window_peak},
                            {"peak_fraction", gflops / window_peak}};
        if (o.threads > 1) {
          e["one_thread_gflops"] = flops / t[2] / 1e9;
          e["vs_one_thread"] = t[2] / t[0];
        }
        if (type == GgmlType::kF32) {
          f32_path[m] = gflops;
        } else {
          const double tf = TimeIt([&] { kernels::MatMulPacked(x.data(), m, packed_float, y.data()); });
          e["float_path_gflops"] = flops / tf / 1e9;
          e["vs_f32"] = e["gflops"].get<double>() / f32_path[m];
        }
        if (!baseline.count(m)) {  // f32 sgemm on the same shape, once per (shape, m)
          const double tb = TimeIt([&] {
            kernels::BlasSgemmNT(m, s.n, s.k, x.data(), wf.data(), y.data(), o.threads);
          });
          using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
          Eigen::Map<const RowMajor> X(x.data(), m, s.k), W(wf.data(), s.n, s.k);
          Eigen::Map<RowMajor> Y(y.data(), m, s.n);
          const double te = TimeIt([&] { Y.noalias() = X * W.transpose(); });
          baseline[m] = {flops / tb / 1e9, flops / te / 1e9};
        }
        e["openblas_gflops"] = baseline[m].first;   // f32 sgemm: the baseline for every dtype
        e["eigen_gflops"] = baseline[m].second;
        r["gemm"].push_back(e);
        if (m == 1 && type != GgmlType::kF32) {
          r["gemv"].push_back(MeasureGemv(s, DtypeName(traits.name), raw, bytes.size(),
                                          x.data(), y.data(), o.threads,
                                          r["bandwidth_gbs"].get<double>(), &probe));
        }
      }
    }
  }
  // GEMV only for the other types of common files (Q4_K_M keeps some tensors in Q6_K, Q5_K_M
  // most in Q5_K, Q3_K_M most in Q3_K, Q2_K files some in Q2_K; IQ4_XS files), on the 8B shapes.
  for (const Shape& s : shapes) {
    if (s.k < 4096) continue;
    std::vector<float> x(static_cast<size_t>(s.k)), y(static_cast<size_t>(s.n));
    for (float& v : x) v = std::uniform_real_distribution<float>(-1, 1)(rng);
    for (GgmlType type : {GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kIQ4_XS, GgmlType::kQ3_K,
                          GgmlType::kQ2_K}) {
      const auto traits = *kernels::TraitsOf(static_cast<uint32_t>(type));
      const auto bytes = RandomWeights(type, s.n, s.k, rng);
      const kernels::WeightMatrix raw{type, bytes.data(), s.n, s.k,
                                      s.k / traits.block_size * traits.type_size};
      r["gemv"].push_back(MeasureGemv(s, DtypeName(traits.name), raw, bytes.size(),
                                      x.data(), y.data(), o.threads,
                                      r["bandwidth_gbs"].get<double>(), &probe));
    }
  }
  // The peak once more at the end: the machine's speed drifts, and the higher figure is the one a
  // kernel is measured against (a low first probe would flatter every ratio).
  const double peak_end = MeasurePeakGflops(o.threads);
  r["peak_gflops_probes"] = {r["peak_gflops"].get<double>(), peak_end};
  r["peak_gflops"] = std::max(r["peak_gflops"].get<double>(), peak_end);
  r["end_to_end"] = nlohmann::json::array();
  for (const std::string& path : o.models) r["end_to_end"].push_back(EndToEnd(path, o.threads));
  return r;
}

std::string FormatKernelBench(const nlohmann::json& r) {
  char line[256];
  std::string out;
  std::snprintf(line, sizeof(line), "cpu: %s, threads %d, simd %s\nmeasured FMA peak %.1f GFLOP/s, read bandwidth %.1f GB/s\n\n",
                r["cpu"].get<std::string>().c_str(), r["threads"].get<int>(), r["simd"].get<std::string>().c_str(),
                r["peak_gflops"].get<double>(), r["bandwidth_gbs"].get<double>());
  out += line;
  out += "GF/s counts 2 m n k per second; quantized rows: int8-activation kernels (default), then the\n"
         "float path (--kernels float) and the int8 speed relative to the packed f32 GEMM\n\n";
  const bool threads = !r["gemm"].empty() && r["gemm"][0].contains("vs_one_thread");
  if (threads) out += "vs 1 thread: the same kernel on one thread, timed alternately with it\n\n";
  out += "%peak: of the run's FMA peak; %win: of an FMA burst timed in turn with the kernel (same seconds)\n\n";
  out += "dtype  shape           m      n      k   sculpt GF/s  %peak   %win  openblas  eigen  vs openblas  float path  vs f32";
  out += threads ? "  vs 1 thread\n" : "\n";
  for (const auto& e : r["gemm"]) {
    std::snprintf(line, sizeof(line), "%-6s %-13s %5lld %6lld %6lld %10.1f %6.1f%% %5.1f%% %9.1f %6.1f %8.2fx",
                  e["dtype"].get<std::string>().c_str(), e["shape"].get<std::string>().c_str(),
                  static_cast<long long>(e["m"].get<int64_t>()), static_cast<long long>(e["n"].get<int64_t>()),
                  static_cast<long long>(e["k"].get<int64_t>()), e["gflops"].get<double>(),
                  100.0 * e["gflops"].get<double>() / r["peak_gflops"].get<double>(),
                  100.0 * e["peak_fraction"].get<double>(), e["openblas_gflops"].get<double>(), e["eigen_gflops"].get<double>(),
                  e["gflops"].get<double>() / e["openblas_gflops"].get<double>());
    out += line;
    if (e.contains("float_path_gflops")) {
      std::snprintf(line, sizeof(line), "  %10.1f %6.2fx", e["float_path_gflops"].get<double>(), e["vs_f32"].get<double>());
      out += line;
    } else if (e.contains("vs_one_thread")) {
      out += "                    ";
    }
    if (e.contains("vs_one_thread")) {
      std::snprintf(line, sizeof(line), "  %9.2fx", e["vs_one_thread"].get<double>());
      out += line;
    }
    out += "\n";
  }
  out += "\nquantized GEMV (m = 1, over >= 256 MiB of distinct weights); of bandwidth: of the\n"
         "run's probe; window: the read probe over as many bytes, timed in turn with the GEMV\n"
         "dtype  shape           GB/s  of bandwidth  window GB/s  of window  (packed MB)\n";
  for (const auto& e : r["gemv"]) {
    std::snprintf(line, sizeof(line), "%-6s %-13s %6.1f %11.0f%% %12.1f %9.0f%%  %.1f\n",
                  e["dtype"].get<std::string>().c_str(), e["shape"].get<std::string>().c_str(),
                  e["gbs"].get<double>(), 100.0 * e["fraction_of_bandwidth"].get<double>(),
                  e["window_bandwidth_gbs"].get<double>(),
                  100.0 * e["window_fraction"].get<double>(),
                  e["packed_bytes"].get<double>() / 1e6);
    out += line;
  }
  if (!r["end_to_end"].empty()) out += "\nend to end (speed of the deterministic kernels relative to --kernels blas)\n";
  for (const auto& e : r["end_to_end"]) {
    if (e.contains("error")) {
      out += e["model"].get<std::string>() + ": " + e["error"].get<std::string>() + "\n";
      continue;
    }
    const bool diffusion = e["mode"] == "diffusion";
    std::snprintf(line, sizeof(line), "%-40s %-14s deterministic %8.2f %s  blas %8.2f  ratio %.2fx\n",
                  e["model"].get<std::string>().c_str(), e["mode"].get<std::string>().c_str(),
                  (diffusion ? e["deterministic_ms_per_step"] : e["deterministic_tokens_per_s"]).get<double>(),
                  diffusion ? "ms/step " : "tokens/s", (diffusion ? e["blas_ms_per_step"] : e["blas_tokens_per_s"]).get<double>(),
                  e["deterministic_speed_vs_blas"].get<double>());
    out += line;
  }
  return out;
}

}  // namespace sculpt::bench
