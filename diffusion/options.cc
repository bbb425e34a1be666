#include "diffusion/options.h"

namespace sculpt {

StatusOr<CacheMode> CacheModeByName(std::string_view name) {
  if (name == "none") return CacheMode::kNone;
  if (name == "prefix") return CacheMode::kPrefix;
  if (name == "dual") return CacheMode::kDual;
  return InvalidArgument("unknown cache '{}' (none, prefix, dual)", Printable(name));
}

std::string_view CacheModeName(CacheMode m) {
  switch (m) {
    case CacheMode::kNone: return "none";
    case CacheMode::kPrefix: return "prefix";
    case CacheMode::kDual: return "dual";
  }
  return "none";
}

Status GenerationOptions::Validate() const {
  if (n_generate < 1) return InvalidArgument("-n must be at least 1 (got {})", n_generate);
  if (steps < 0) return InvalidArgument("steps must be at least 1 (got {})", steps);
  if (!(eps > 0.0 && eps < 1.0)) return InvalidArgument("--diffusion-eps must be in (0, 1), got {}", eps);
  if (algorithm != "origin") SCULPT_RETURN_IF_ERROR(ConfidenceMeasureByName(algorithm).status());
  if (alg_temp < 0.0) return InvalidArgument("--diffusion-alg-temp must be >= 0, got {}", alg_temp);
  if (sampler.temperature < 0.0) {
    return InvalidArgument("--temp must be >= 0, got {}", sampler.temperature);
  }
  if (sampler.top_k < 0) return InvalidArgument("--top-k must be >= 0, got {}", sampler.top_k);
  if (!(sampler.top_p > 0.0 && sampler.top_p <= 1.0)) {
    return InvalidArgument("--top-p must be in (0, 1], got {}", sampler.top_p);
  }
  if (cfg_scale < 0.0) return InvalidArgument("--diffusion-cfg-scale must be >= 0, got {}", cfg_scale);
  const int adaptive = (threshold > 0.0) + (factor > 0.0) + (eb_gamma > 0.0);
  if (threshold < 0.0 || threshold > 1.0) {
    return InvalidArgument("--diffusion-threshold must be in (0, 1], got {}", threshold);
  }
  if (factor < 0.0) return InvalidArgument("--diffusion-factor must be > 0, got {}", factor);
  if (eb_gamma < 0.0) return InvalidArgument("--diffusion-eb-gamma must be > 0, got {}", eb_gamma);
  if (adaptive > 1) {
    return InvalidArgument("choose one of --diffusion-threshold, --diffusion-factor, "
                           "--diffusion-eb-gamma");
  }
  if (adaptive && algorithm == "origin") {
    return InvalidArgument("the origin algorithm reveals positions at random; it cannot be combined "
                           "with threshold, factor or EB rules");
  }
  if (adaptive && alg_temp > 0.0) {
    return InvalidArgument("--diffusion-alg-temp cannot be combined with threshold, factor or EB "
                           "rules");
  }
  if (remask != RemaskStrategy::kNone) {
    if (adaptive || algorithm == "origin") {
      return InvalidArgument("--remask works with the linear and timestep schedules, not with "
                             "adaptive rules or origin sampling");
    }
    if (!(remask_eta > 0.0 && remask_eta <= 1.0)) {
      return InvalidArgument("remasking strength must be in (0, 1], got {}", remask_eta);
    }
  }
  if (cache != CacheMode::kNone && cfg_scale > 0.0) {
    return InvalidArgument("--cache {} cannot be combined with classifier-free guidance",
                           CacheModeName(cache));
  }
  return Status::Ok();
}

}  // namespace sculpt
