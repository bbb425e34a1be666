#include "cli/sampling_flags.h"

namespace sculpt::cli {

void SamplingFlags::Register(CLI::App* app, bool with_n) {
  if (with_n) app->add_option("-n,--n-predict", n_generate, "Tokens to generate")->capture_default_str();
  steps_opt = app->add_option("--diffusion-steps", steps, "Denoising steps (default: one per token)");
  block_opt = app->add_option("--diffusion-block-length", block_length,
                              "Semi-autoregressive block length (default: the whole canvas); "
                              "selects the linear schedule");
  eps_opt = app->add_option("--diffusion-eps", eps,
                            "Timestep schedule epsilon (Dream); selects the timestep schedule")
                ->capture_default_str();
  app->add_option("--diffusion-schedule", schedule,
                  "linear (LLaDA) or timestep (Dream); default: the model's")
      ->check(CLI::IsMember({"linear", "timestep"}));
  app->add_option("--diffusion-algorithm", algorithm,
                  "confidence | margin | entropy | random | origin")
      ->capture_default_str();
  app->add_option("--diffusion-alg-temp", alg_temp,
                  "> 0: pick positions by sampling from softmax(confidence / T)");
  app->add_option("--temp,--temperature", temperature, "Sampling temperature (0 = argmax)")
      ->capture_default_str();
  app->add_option("--top-k", top_k, "Top-k filter (0 = off)");
  app->add_option("--top-p", top_p, "Top-p filter (1 = off)");
  app->add_option("-s,--seed", seed, "Random seed")->capture_default_str();
  app->add_option("--diffusion-cfg-scale", cfg_scale, "Classifier-free guidance weight (0 = off)");
  app->add_option("--diffusion-threshold", threshold,
                  "Fast-dLLM: commit every position with confidence >= T (at least one)");
  app->add_option("--diffusion-factor", factor, "Fast-dLLM factor rule with factor F");
  app->add_option("--diffusion-eb-gamma", eb_gamma, "EB-sampler entropy bound");
  app->add_flag("--suppress-eos", suppress_eos, "Never choose EOS (LLaDA logits_eos_inf)");
  app->add_flag("--no-eos-confidence", no_eos_confidence,
                "EOS/EoT proposals get no confidence (LLaDA confidence_eos_eot_inf)");
  app->add_flag("--no-early-stop", no_early_stop,
                "Fill the whole canvas even after EOS is final");
  app->add_option("--cache", cache,
                  "Reuse keys/values between the steps of a block: none (exact), prefix, or dual "
                  "(Fast-dLLM); approximate unless --block-causal")
      ->check(CLI::IsMember({"none", "prefix", "dual"}))
      ->capture_default_str();
  app->add_flag("--block-causal", block_causal,
                "Block-causal attention over the generation blocks (a block sees the context and "
                "earlier blocks) instead of the model's bidirectional attention");
  app->add_option("--remask", remask,
                  "ReMDM remasking: cap[:ETA], rescale[:ETA] or conf[:ETA] (ETA default 0.1)");
}

StatusOr<GenerationOptions> SamplingFlags::ToOptions() const {
  GenerationOptions o;
  o.n_generate = n_generate;
  if (steps_opt && steps_opt->count() > 0) {
    if (steps < 1) return InvalidArgument("--diffusion-steps must be at least 1 (got {})", steps);
    o.steps = steps;
  }
  if (block_opt && block_opt->count() > 0 && block_length < 1) {
    return InvalidArgument("--diffusion-block-length must be at least 1 (got {})", block_length);
  }
  o.block_length = block_length;
  o.eps = eps;
  if (schedule == "linear") {
    o.schedule = TransferSchedule::kLinear;
  } else if (schedule == "timestep") {
    o.schedule = TransferSchedule::kTimestep;
  } else if (eps_opt && eps_opt->count() > 0) {
    o.schedule = TransferSchedule::kTimestep;
  } else if (block_opt && block_opt->count() > 0) {
    o.schedule = TransferSchedule::kLinear;
  }
  o.algorithm = algorithm;
  o.alg_temp = alg_temp;
  o.sampler.temperature = temperature;
  o.sampler.top_k = top_k;
  o.sampler.top_p = top_p;
  o.seed = seed;
  o.cfg_scale = cfg_scale;
  o.threshold = threshold;
  o.factor = factor;
  o.eb_gamma = eb_gamma;
  o.suppress_eos = suppress_eos;
  o.no_eos_confidence = no_eos_confidence;
  o.early_stop = !no_early_stop;
  if (!remask.empty()) {
    const auto colon = remask.find(':');
    const std::string name = remask.substr(0, colon);
    o.remask_eta = 0.1;
    if (colon != std::string::npos) {
      try {
        size_t used = 0;
        o.remask_eta = std::stod(remask.substr(colon + 1), &used);
        if (used != remask.size() - colon - 1) throw std::invalid_argument("trailing");
      } catch (const std::exception&) {
        return InvalidArgument("--remask {}: '{}' is not a number", remask, remask.substr(colon + 1));
      }
    }
    if (name == "cap") o.remask = RemaskStrategy::kCap;
    else if (name == "rescale") o.remask = RemaskStrategy::kRescale;
    else if (name == "conf") o.remask = RemaskStrategy::kConf;
    else return InvalidArgument("--remask '{}': unknown strategy (cap, rescale, conf)", name);
  }
  SCULPT_ASSIGN_OR_RETURN(o.cache, CacheModeByName(cache));
  o.block_causal = block_causal;
  SCULPT_RETURN_IF_ERROR(o.Validate());
  return o;
}

}  // namespace sculpt::cli
