// The refinement loop: a canvas of tokens, some of them editable masks, denoised step by step.
// Each step is one denoiser call (a batch of 2 with classifier-free guidance) that asks logits
// only for the positions that may be committed now, proposes a token and a confidence for each,
// and commits those the schedule or the adaptive rule picks.
//
// Semantics at temperature 0 (checked against the official code, ../shared/reference/generate):
// - LLaDA generate: blocks of block_length; steps/blocks passes per block; linear counts;
//   candidates = masked positions before the end of the current block; CFG; EOS switches.
// - Fast-dLLM: threshold / factor rules, run until the block is full.
// - Dream diffusion_generate: timestep schedule with eps, logits shifted when the model says so.
// Remasking (ReMDM): after a step that is not the last of its block, committed tokens of the block
// may be masked again: kCap remasks each with probability min(eta, (1-a_s)/a_t), kRescale with
// eta * min(1, (1-a_s)/a_t) (a = linear schedule over the block's steps), kConf remasks the
// floor(eta * n) with the lowest commit-time confidence. The next step commits that many more,
// and the last step of a block never remasks, so every block still completes.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "base/status.h"
#include "denoiser/denoiser.h"
#include "diffusion/options.h"

namespace sculpt {

struct StepEvent {
  int64_t step = 0;   // 0-based over the whole request
  int64_t block = 0;
  std::vector<std::pair<int64_t, int32_t>> committed;  // (editable index, token)
  std::vector<int64_t> remasked;                        // editable indices masked again
  int64_t n_masked = 0;                                 // masks left in the whole canvas
  const std::vector<int32_t>* canvas = nullptr;         // the full canvas after the step
  double step_ms = 0.0;
};
// Return false to cancel the request.
using StepCallback = std::function<bool(const StepEvent&)>;

struct DiffusionRequest {
  std::vector<int32_t> canvas;          // prompt/context tokens and mask ids
  std::vector<int64_t> editable;        // positions the loop fills, ascending (all masks at start)
  bool is_generation = true;            // early stop applies to generation, not to holes
};

struct GenerationResult {
  std::vector<int32_t> ids;             // final tokens at the editable positions
  std::vector<int32_t> canvas;          // the whole final canvas
  int64_t steps = 0;
  int64_t forward_passes = 0;           // denoiser calls (a CFG step is one batched call)
  int64_t rows_computed = 0;            // canvas rows run through the denoiser, over all calls
  std::vector<std::vector<int64_t>> commits_per_step;  // editable indices, ascending
  std::vector<int32_t> commit_step;     // per editable index: the step that last committed it
  std::vector<double> confidence;       // per editable index: confidence when committed
  bool stopped_early = false;
  bool cancelled = false;
  double total_ms = 0.0;
};

// Runs the loop for a diffusion (non-causal) model. The denoiser calls go through `runner` when
// given (a batcher shared by concurrent requests), else to the denoiser.
StatusOr<GenerationResult> RunRefinement(Denoiser& denoiser, const DiffusionRequest& request,
                                         const GenerationOptions& options,
                                         const StepCallback& callback = nullptr,
                                         ForwardRunner* runner = nullptr);

// Token-by-token decoding for causal models: prefill, then one KV-cache step per token, with the
// same sampler. `steps` = tokens generated; stops after an end-of-generation token when
// early_stop.
StatusOr<GenerationResult> RunAutoregressive(Denoiser& denoiser, const std::vector<int32_t>& prompt,
                                             const GenerationOptions& options,
                                             const StepCallback& callback = nullptr,
                                             ForwardRunner* runner = nullptr);

}  // namespace sculpt
