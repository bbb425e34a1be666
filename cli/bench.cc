// sculpt bench kernels: GEMM/GEMV throughput against the measured peak, OpenBLAS and Eigen.
#include <cstdio>

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
    const auto result = bench::RunKernelBench(o);
    if (f->json) {
      std::printf("%s\n", result.dump().c_str());
    } else {
      std::printf("%s", bench::FormatKernelBench(result).c_str());
    }
    return Status::Ok();
  }));
}

}  // namespace sculpt::cli
