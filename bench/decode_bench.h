// sculpt bench decode: diffusion decoding configurations (steps, blocks, caches, parallel
// decoding) against the no-cache full-steps baseline and against autoregressive decoding, on a
// fixed set of prompts: tokens/s, ms per step, forward passes, time to first token, agreement
// with the baseline.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "diffusion/options.h"

namespace sculpt::bench {

struct DecodeConfig {
  std::string name;
  bool autoregressive = false;
  bool baseline = false;  // the diffusion reference: no cache, one step per token
  GenerationOptions options;
};

// The prompts every configuration runs (code, for the embedded models; any model accepts them).
const std::vector<std::string>& DefaultDecodePrompts();
// The default configurations for n generated tokens (with_ar: add the autoregressive one).
std::vector<DecodeConfig> DefaultDecodeConfigs(int64_t n, bool with_ar);
// A --configs file: a JSON array of {"name", "kind": "diffusion"|"autoregressive", "baseline",
// "cache", "steps", "block_length", "algorithm", "threshold", "factor"}; every configuration is
// validated, exactly one diffusion configuration must be the baseline (cache none, steps = n).
StatusOr<std::vector<DecodeConfig>> ParseDecodeConfigs(const nlohmann::json& j, int64_t n, bool with_ar);

// One single-line infill task (tools/eval/infill_tasks.jsonl).
struct InfillTask {
  std::string prefix, middle, suffix;
  int64_t hole_tokens = 0;
};
// Reads a JSON-lines task file; at most max_tasks (0 = all).
StatusOr<std::vector<InfillTask>> LoadInfillTasks(const std::string& path, size_t max_tasks);

struct DecodeBenchOptions {
  std::string diffusion_model;
  std::string ar_model;  // empty: diffusion only
  std::vector<DecodeConfig> configs;
  std::vector<std::string> prompts;
  int64_t n_generate = 128;
  int threads = 1;
  int reps = 3;  // timed repetitions per prompt after one warm-up; the median is reported
  // Optional task set: task_score = exact match (whitespace-normalised) of each configuration on
  // these infill tasks, the hole filled with its true token length (the autoregressive model: at
  // most that many tokens by fill-in-the-middle). Steps scale with the hole (steps / n per token).
  std::vector<InfillTask> tasks;
  // Optional: llama.cpp's llama-diffusion-cli. Every exact diffusion configuration with the
  // confidence rule and no threshold/factor also runs through it on the same file, canvas (prompt
  // + n_generate tokens), steps and block length, and the row gets "llamacpp_ms_per_step" (the
  // "time per step" it prints, averaged over the prompts) and "vs_llamacpp" (its ms per step over
  // Sculpt's: > 1 means Sculpt is faster).
  std::string llamacpp;
};

// Runs every configuration on every prompt. The JSON has "machine" and "configs" (see
// `sculpt bench decode --help` and the README).
StatusOr<nlohmann::json> RunDecodeBench(const DecodeBenchOptions& o);
std::string FormatDecodeBench(const nlohmann::json& r);
// tokens/s (log scale) against quality, one point per configuration: the task score when every
// configuration has one (the autoregressive one too), else agreement with the baseline; the
// autoregressive tokens/s as a vertical reference line.
std::string DecodeBenchSvg(const nlohmann::json& r);

}  // namespace sculpt::bench
