#include "cli/common.h"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <cstdio>
#include <memory>

#include "base/timer.h"
#include "engine/engine.h"

namespace sculpt::cli {

void AddCommonOptions(CLI::App* app, CommonOptions* opts) {
  app->add_option("-t,--threads", opts->threads, "Threads (0 = all hardware threads)")
      ->check(CLI::NonNegativeNumber);
  app->add_option("--simd", opts->simd, "SIMD target: best, avx512, avx2 or scalar (same results)")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& name) {
            const Status s = SetSimd(name);
            return s.ok() ? std::string() : s.message();
          },
          "TARGET", "simd"));
  app->add_option("--kernels", opts->kernels,
                  "int8 (default: quantized weights x int8 activations, like llama.cpp), float (quantized "
                  "weights expanded to float: exact to 1e-4, slower) or blas (OpenBLAS, for comparisons: "
                  "not batch-invariant)")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& name) {
            const Status s = SetKernels(name);
            return s.ok() ? std::string() : s.message();
          },
          "KERNELS", "kernels"));
}

StatusOr<std::string> ResolveModel(const std::string& given) {
  if (!given.empty()) return given;
  namespace fs = std::filesystem;
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("SCULPT_MODELS"); env && *env) dirs.emplace_back(env);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    dirs.push_back(exe.parent_path() / "models");
    dirs.push_back(exe.parent_path().parent_path() / "models");
  }
#ifdef SCULPT_MODELS_DIR
  dirs.emplace_back(SCULPT_MODELS_DIR);
#endif
  for (const fs::path& d : dirs) {
    const fs::path p = d / kDefaultModel;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return NotFound("no -m/--model given and the embedded model {} was not found (looked beside the "
                  "binary, in ../models and in $SCULPT_MODELS)", kDefaultModel);
}

int Fail(const Status& status) {
  std::fprintf(stderr, "sculpt: error: %s\n", status.message().c_str());
  return 1;
}

StatusOr<std::vector<int32_t>> ParseIds(const std::string& text) {
  std::vector<int32_t> ids;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',') {
      ++p;
      continue;
    }
    int64_t v = 0;
    auto [next, ec] = std::from_chars(p, end, v);
    const bool sep_follows = next == end || *next == ' ' || *next == '\t' || *next == '\n' ||
                             *next == '\r' || *next == ',';
    if (ec != std::errc() || !sep_follows || v < INT32_MIN || v > INT32_MAX) {
      const char* tok_end = p;
      while (tok_end < end && *tok_end != ' ' && *tok_end != ',') ++tok_end;
      return InvalidArgument("'{}' is not a token id (expected integers separated by spaces)",
                             std::string(p, tok_end));
    }
    ids.push_back(static_cast<int32_t>(v));
    p = next;
  }
  return ids;
}

ProgressFn TerminalProgress() {
  if (!isatty(STDERR_FILENO)) return nullptr;
  struct State {
    Timer timer;
    bool drawn = false;
  };
  auto state = std::make_shared<State>();
  return [state](std::string_view phase, uint64_t done, uint64_t total) {
    if (!state->drawn && state->timer.Seconds() < 1.0 && done < total) return;
    if (!state->drawn && done >= total) return;  // finished within a second: draw nothing
    state->drawn = true;
    constexpr int kWidth = 30;
    const double frac = total ? static_cast<double>(done) / total : 1.0;
    const int fill = static_cast<int>(frac * kWidth);
    std::string bar(static_cast<size_t>(fill), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r%.*s [%s] %3d%% %.2f/%.2f GB", static_cast<int>(phase.size()),
                 phase.data(), bar.c_str(), static_cast<int>(frac * 100), done / 1e9, total / 1e9);
    if (done >= total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  };
}

}  // namespace sculpt::cli
