// GenerationOptions: one request's token-level settings, the same struct for the command line,
// the library and the server. Validate() gives one clear error per bad combination.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "sampling/sampling.h"
#include "schedulers/schedulers.h"

namespace sculpt {

// How many positions a step commits.
enum class TransferSchedule {
  kAuto,      // the model's default (ArchTraits), unless --diffusion-eps / -block-length say otherwise
  kLinear,    // LLaDA: front-loaded equal counts per block
  kTimestep,  // Dream: floor(remaining * (1 - s/t)) with the eps schedule
};

// ReMDM-style remasking of committed tokens so they can be revised (see diffusion/refinement.h).
enum class RemaskStrategy { kNone, kCap, kRescale, kConf };

// Key/value reuse across the steps of a block (issue 8). kNone recomputes the whole canvas every
// step (the reference path). kPrefix keeps the keys/values of everything before the current block
// from the block's first step; kDual (Fast-dLLM) also keeps those after it, so a step computes the
// block's rows only. Both are exact under block-causal attention and approximations under the
// bidirectional attention diffusion models are trained with (the cached rows do not see later
// changes of the block).
enum class CacheMode { kNone, kPrefix, kDual };
StatusOr<CacheMode> CacheModeByName(std::string_view name);
std::string_view CacheModeName(CacheMode m);

struct GenerationOptions {
  int64_t n_generate = 64;        // tokens to generate (-n)
  int64_t steps = 0;              // denoising steps; 0 = n_generate
  int64_t block_length = 0;       // semi-autoregressive block; 0 = the whole canvas
  double eps = 1e-3;              // Dream timestep schedule
  TransferSchedule schedule = TransferSchedule::kAuto;
  std::string algorithm = "confidence";  // confidence | margin | entropy | random | origin
  double alg_temp = 0.0;          // > 0: choose positions by sampling from softmax(conf / alg_temp)
  NoiseSchedule origin_noise = NoiseSchedule::kLinear;  // for algorithm "origin"
  SamplerOptions sampler;
  uint64_t seed = 0;
  double cfg_scale = 0.0;         // classifier-free guidance weight w (0 = off)
  double threshold = 0.0;         // > 0: Fast-dLLM confidence threshold
  double factor = 0.0;            // > 0: Fast-dLLM factor rule
  double eb_gamma = 0.0;          // > 0: EB-sampler entropy bound
  bool suppress_eos = false;      // LLaDA logits_eos_inf
  bool no_eos_confidence = false; // LLaDA confidence_eos_eot_inf
  bool early_stop = true;         // variable length: stop once EOS is final (generation only)
  RemaskStrategy remask = RemaskStrategy::kNone;
  double remask_eta = 0.0;        // strength of remasking (cap / scale / fraction)
  CacheMode cache = CacheMode::kNone;
  // Attention override: block-causal over the generation blocks (a block sees the context and the
  // blocks up to itself) instead of the model's bidirectional attention.
  bool block_causal = false;

  int64_t EffectiveSteps() const { return steps > 0 ? steps : n_generate; }
  // Threshold, factor or EB: steps are taken until a block is done (no schedule of counts).
  bool Adaptive() const { return threshold > 0.0 || factor > 0.0 || eb_gamma > 0.0; }
  Status Validate() const;
};

}  // namespace sculpt
