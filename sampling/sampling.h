// Sampling: pure functions over one logits row (STYLE.md rule 13). Randomness comes in as a
// counter-based key, so a proposal depends only on (row, options, key).
//
// Numerics: rows are processed in double; softmax = exp(l - max) / sum, summed in index order.
// Temperature 0 is exact argmax (ties go to the lower id). Temperature > 0 is Gumbel-max in double:
// argmax_v l_v / T + g_v with g_v = -log(-log(u_v)), u_v from the key (LLaDA's add_gumbel_noise).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/rng.h"
#include "base/status.h"

namespace sculpt {

struct SamplerOptions {
  double temperature = 0.0;
  int64_t top_k = 0;     // 0 = off
  double top_p = 1.0;    // 1 = off
};

enum class ConfidenceMeasure {
  kProbability,  // p(chosen token)                       (LLaDA low_confidence, Dream maskgit_plus)
  kMargin,       // p(1st) - p(2nd)                        (Dream topk_margin)
  kNegEntropy,   // sum_v p_v log(p_v + 1e-10), <= 0      (Dream entropy; higher = more certain)
  kRandom,       // uniform                                (LLaDA random remasking)
};
StatusOr<ConfidenceMeasure> ConfidenceMeasureByName(std::string_view name);

struct ProposalRules {
  std::span<const int32_t> never_propose;    // e.g. the mask id: chosen never, still in softmax
  std::span<const int32_t> suppress;         // logit := -inf before everything (LLaDA logits_eos_inf)
  std::span<const int32_t> zero_confidence;  // logit := -inf after the choice, for the confidence
                                             // only (LLaDA confidence_eos_eot_inf)
  bool entropy = false;  // fill Proposal::entropy (the EB rule; the entropy measure always does)
};

struct Proposal {
  int32_t token = -1;
  double confidence = 0.0;
  double entropy = 0.0;  // -sum p log p of the confidence distribution (rules.entropy or measure)
};

// The distribution confidences are measured on is the sampling distribution: temperature-scaled
// and top-k/top-p filtered (Dream); at temperature 0 it is the plain softmax of the row (LLaDA).
Proposal Propose(std::span<const double> logits, const SamplerOptions& options,
                 ConfidenceMeasure measure, const ProposalRules& rules, const RngKey& key,
                 std::vector<double>* scratch);

// Classifier-free guidance on logits: cond := uncond + (w + 1) (cond - uncond).
void ApplyCfg(std::span<double> cond, std::span<const double> uncond, double w);

// ---- commit rules over the confidences of the candidate positions --------------------------

// Indices of the k highest confidences, highest first (ties: lower index first).
std::vector<int64_t> TopK(std::span<const double> confidence, int64_t k);
// k indices drawn without replacement with probabilities softmax(confidence / alg_temp)
// (Gumbel-top-k, equal in distribution to Dream's torch.multinomial).
std::vector<int64_t> SampleTopK(std::span<const double> confidence, int64_t k, double alg_temp,
                                const RngKey& key);
// Fast-dLLM threshold: with confidences sorted descending, the top one always, then every one
// >= tau. Returns how many to commit (>= 1 when any).
int64_t ThresholdCount(std::span<const double> sorted_desc, double tau);
// Fast-dLLM factor rule: tau_r = 1 - f / (r + 2) for rank r >= 1; commit ranks before the first
// r >= 1 with c_r < tau_r (all n when none); if that first failure is the last rank, all n.
int64_t FactorCount(std::span<const double> sorted_desc, double factor);
// EB-sampler: with entropies sorted ascending, the largest n with sum(H_0..H_{n-1}) - H_{n-1}
// <= gamma (at least 1).
int64_t EntropyBoundCount(std::span<const double> sorted_entropy_asc, double gamma);

}  // namespace sculpt
