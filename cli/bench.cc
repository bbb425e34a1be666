// sculpt bench kernels: GEMM/GEMV throughput against the measured peak, OpenBLAS and Eigen.
#include <unistd.h>

#include <cstdio>

#include <filesystem>
#include <fstream>

#include "base/file_util.h"
#include "bench/decode_bench.h"
#include "bench/kernels_bench.h"
#include "cli/common.h"

namespace sculpt::cli {

void RegisterBench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks");
  bench->require_subcommand(1);
  auto* kernels = bench->add_subcommand("kernels", "GEMM and quantized GEMV against the measured FMA "
                                                   "peak and bandwidth, OpenBLAS and Eigen");
  struct Flags {
    bool json = false, quick = false;
    std::vector<std::string> models;
    CommonOptions common;
  };
  auto f = std::make_shared<Flags>();
  kernels->add_flag("--json", f->json, "Print the results as one JSON object");
  kernels->add_flag("--quick", f->quick, "Tiny shapes only (seconds instead of minutes)");
  kernels->add_option("-m,--model", f->models,
                      "Also time this model end to end, deterministic vs --kernels blas (repeatable)");
  AddCommonOptions(kernels, &f->common);
  kernels->callback(Runner([f]() -> Status {
    bench::KernelBenchOptions o;
    o.threads = f->common.threads > 0 ? f->common.threads : 1;
    o.quick = f->quick;
    o.models = f->models;
    if (Status s = bench::KernelBenchReady(); !s.ok()) return s;
    const auto result = bench::RunKernelBench(o);
    if (f->json) {
      std::printf("%s\n", result.dump().c_str());
    } else {
      std::printf("%s", bench::FormatKernelBench(result).c_str());
    }
    return Status::Ok();
  }));

  auto* decode = bench->add_subcommand(
      "decode", "Diffusion decoding configurations (steps, blocks, caches, parallel decoding) against "
                "the full-steps baseline and autoregressive decoding: tokens/s, steps, agreement");
  struct DecodeFlags {
    std::string diffusion_model, ar_model, configs, svg, tasks, llamacpp;
    size_t max_tasks = 50;
    std::vector<std::string> prompts;
    int64_t n = 128;  // LLaDA's default generation length
    int reps = 3;
    bool json = false;
    CommonOptions common;
  };
  auto d = std::make_shared<DecodeFlags>();
  decode->add_option("--diffusion-model", d->diffusion_model,
                     "Diffusion GGUF (default: the embedded models/sculpt-code-diffusion.gguf)");
  decode->add_option("--ar-model", d->ar_model,
                     "Autoregressive GGUF (default with no model flags: the embedded twin)");
  decode->add_option("--configs", d->configs, "JSON file: an array of configurations (see README)");
  decode->add_option("--prompt", d->prompts, "Prompt (repeatable; default: four fixed code prompts)");
  decode->add_option("-n,--n-predict", d->n, "Tokens generated per prompt")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  decode->add_option("--reps", d->reps, "Timed runs per prompt after one warm-up (median reported)")
      ->capture_default_str()->check(CLI::Range(1, 100));
  decode->add_option("--tasks", d->tasks,
                     "Infill task set (JSON lines, e.g. tools/eval/infill_tasks.jsonl): adds task_score");
  decode->add_option("--max-tasks", d->max_tasks, "Tasks used from --tasks (0 = all)")->capture_default_str();
  decode->add_option("--compare-llamacpp", d->llamacpp,
                     "Path to llama.cpp's llama-diffusion-cli: exact configurations also run there "
                     "(same file, canvas, steps, blocks) and are compared per step");
  decode->add_flag("--json", d->json, "Print the results as one JSON object");
  decode->add_option("--svg", d->svg, "Also write a plot: tokens/s against the task score (with --tasks) or agreement with the baseline");
  AddCommonOptions(decode, &d->common);
  decode->callback(Runner([d]() -> Status {
    bench::DecodeBenchOptions o;
    const bool embedded = d->diffusion_model.empty() && d->ar_model.empty();
    SCULPT_ASSIGN_OR_RETURN(o.diffusion_model, ResolveModel(d->diffusion_model));
    o.ar_model = d->ar_model;
    if (embedded) {
      const auto twin = std::filesystem::path(o.diffusion_model).parent_path() / "sculpt-code-ar.gguf";
      if (std::filesystem::exists(twin)) o.ar_model = twin.string();
    }
    o.n_generate = d->n;
    o.reps = d->reps;
    o.threads = d->common.threads > 0 ? d->common.threads : 1;
    o.prompts = d->prompts;
    if (!d->llamacpp.empty()) {
      if (!std::filesystem::is_regular_file(d->llamacpp) || access(d->llamacpp.c_str(), X_OK) != 0) {
        return InvalidArgument("--compare-llamacpp {}: not an executable file", d->llamacpp);
      }
      o.llamacpp = d->llamacpp;
    }
    if (!d->configs.empty()) {
      SCULPT_ASSIGN_OR_RETURN(std::string text, ReadFile(d->configs));
      const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) return InvalidArgument("--configs {}: not valid JSON", d->configs);
      SCULPT_ASSIGN_OR_RETURN(o.configs, bench::ParseDecodeConfigs(j, o.n_generate, !o.ar_model.empty()));
    }
    if (!d->tasks.empty()) {
      SCULPT_ASSIGN_OR_RETURN(o.tasks, bench::LoadInfillTasks(d->tasks, d->max_tasks));
    }
    SCULPT_ASSIGN_OR_RETURN(nlohmann::json r, bench::RunDecodeBench(o));
    if (!d->svg.empty()) {
      const std::string svg = bench::DecodeBenchSvg(r);
      SCULPT_RETURN_IF_ERROR(WriteFilesAtomically({{d->svg, {svg.data(), svg.size()}}}));
    }
    if (d->json) {
      std::printf("%s\n", r.dump().c_str());
    } else {
      std::printf("%s", bench::FormatDecodeBench(r).c_str());
    }
    return Status::Ok();
  }));
}

}  // namespace sculpt::cli
