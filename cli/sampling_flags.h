// The sampling and diffusion flags shared by generate, infill and edit, each declared once with
// its default and help (llama.cpp names where they exist).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "base/status.h"
#include "engine/engine.h"  // GenerationOptions

namespace sculpt::cli {

struct SamplingFlags {
  int64_t n_generate = 64;
  int64_t steps = 0;
  int64_t block_length = 0;
  double eps = 1e-3;
  std::string schedule;  // linear | timestep ("" = auto)
  std::string algorithm = "confidence";
  double alg_temp = 0.0;
  double temperature = 0.0;
  int64_t top_k = 0;
  double top_p = 1.0;
  uint64_t seed = 0;
  double cfg_scale = 0.0;
  double threshold = 0.0, factor = 0.0, eb_gamma = 0.0;
  bool suppress_eos = false, no_eos_confidence = false, no_early_stop = false;
  std::string remask;
  std::string cache = "none";
  bool block_causal = false;  // STRATEGY[:ETA]

  CLI::Option* steps_opt = nullptr;
  CLI::Option* eps_opt = nullptr;
  CLI::Option* block_opt = nullptr;

  void Register(CLI::App* app, bool with_n);
  StatusOr<GenerationOptions> ToOptions() const;
};

}  // namespace sculpt::cli
