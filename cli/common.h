// Helpers shared by the subcommands: error exit, id lists, the load progress bar.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/progress.h"
#include "base/status.h"

namespace sculpt::cli {

// Options every subcommand takes.
struct CommonOptions {
  int threads = 0;
  std::string simd = "best";  // applied while parsing: a bad value is a parse error
  std::string kernels = "int8";
};
void AddCommonOptions(CLI::App* app, CommonOptions* opts);

// Prints "sculpt: error: <message>" as one line to stderr and returns exit code 1.
int Fail(const Status& status);

// A subcommand callback that runs `fn` (returning Status) and turns an error into one line on
// stderr and a non-zero exit.
template <typename Fn>
std::function<void()> Runner(Fn fn) {
  return [fn] {
    const Status s = fn();
    if (!s.ok()) throw CLI::RuntimeError(Fail(s));
  };
}

// The embedded models (models/ in the source tree): the default of generate, infill and edit.
inline constexpr const char* kDefaultModel = "sculpt-code-diffusion.gguf";
inline constexpr const char* kDefaultModelHelp =
    "GGUF file (default: the embedded code diffusion model, models/sculpt-code-diffusion.gguf)";
// `given` if not empty; else the embedded model, looked up in $SCULPT_MODELS, beside the binary
// (models/ and ../models/, so build/sculpt finds the source tree's) and in the source tree.
StatusOr<std::string> ResolveModel(const std::string& given);

// Parses "ID ID ..." (spaces, tabs, newlines or commas between ids).
StatusOr<std::vector<int32_t>> ParseIds(const std::string& text);

// A progress callback that draws a bar on stderr once a load has taken more than a second, and
// only when stderr is a terminal.
ProgressFn TerminalProgress();

// Subcommand registration.
void RegisterInfo(CLI::App& app);
void RegisterLogits(CLI::App& app);
void RegisterTokenize(CLI::App& app);
void RegisterGenerate(CLI::App& app);
void RegisterInfill(CLI::App& app);
void RegisterBench(CLI::App& app);
void RegisterServe(CLI::App& app);

}  // namespace sculpt::cli
