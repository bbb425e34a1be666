#include "sampling/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace sculpt {

namespace {
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

bool Contains(std::span<const int32_t> ids, int64_t v) {
  return std::find(ids.begin(), ids.end(), v) != ids.end();
}

// In-place softmax of l (values of -inf stay 0); returns log(sum) relative to max for entropy use.
void Softmax(std::vector<double>& l) {
  double m = kNegInf;
  for (double x : l) m = std::max(m, x);
  if (m == kNegInf) return;
  double sum = 0.0;
  for (double& x : l) {
    x = std::exp(x - m);
    sum += x;
  }
  for (double& x : l) x /= sum;
}
}  // namespace

StatusOr<ConfidenceMeasure> ConfidenceMeasureByName(std::string_view name) {
  if (name == "confidence" || name == "maskgit_plus" || name == "low_confidence") {
    return ConfidenceMeasure::kProbability;
  }
  if (name == "margin" || name == "topk_margin") return ConfidenceMeasure::kMargin;
  if (name == "entropy") return ConfidenceMeasure::kNegEntropy;
  if (name == "random") return ConfidenceMeasure::kRandom;
  return InvalidArgument("unknown diffusion algorithm '{}' (known: confidence, margin, entropy, "
                         "random, origin)", Printable(name));
}

Proposal Propose(std::span<const double> logits, const SamplerOptions& o, ConfidenceMeasure measure,
                 const ProposalRules& rules, const RngKey& key, std::vector<double>* scratch) {
  const int64_t n = static_cast<int64_t>(logits.size());
  std::vector<double>& l = *scratch;
  l.assign(logits.begin(), logits.end());
  for (int32_t id : rules.suppress) {
    if (id >= 0 && id < n) l[id] = kNegInf;
  }
  const bool sample = o.temperature > 0.0;
  if (sample) {
    for (double& x : l) x /= o.temperature;
    if (o.top_k > 0 && o.top_k < n) {  // keep the k largest (ties: lower id)
      std::vector<int64_t> idx(static_cast<size_t>(n));
      std::iota(idx.begin(), idx.end(), 0);
      std::nth_element(idx.begin(), idx.begin() + o.top_k - 1, idx.end(), [&](int64_t a, int64_t b) {
        return l[a] > l[b] || (l[a] == l[b] && a < b);
      });
      const int64_t kth = idx[o.top_k - 1];
      for (int64_t v = 0; v < n; ++v) {
        if (l[v] < l[kth] || (l[v] == l[kth] && v > kth)) l[v] = kNegInf;
      }
    }
    if (o.top_p < 1.0) {  // smallest set of most likely tokens with probability >= top_p
      std::vector<double> p = l;
      Softmax(p);
      std::vector<int64_t> idx(static_cast<size_t>(n));
      std::iota(idx.begin(), idx.end(), 0);
      std::sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
      double cum = 0.0;
      size_t keep = 0;
      while (keep < idx.size() && (keep == 0 || cum < o.top_p)) cum += p[idx[keep++]];
      for (size_t r = keep; r < idx.size(); ++r) l[idx[r]] = kNegInf;
    }
  }

  // The choice.
  Proposal out;
  double best = kNegInf;
  for (int64_t v = 0; v < n; ++v) {
    if (l[v] == kNegInf) continue;
    double score = l[v];
    if (sample) score += -std::log(-std::log(Uniform(key, static_cast<uint64_t>(v))));
    if (score > best && !Contains(rules.never_propose, v)) {
      best = score;
      out.token = static_cast<int32_t>(v);
    }
  }
  if (out.token < 0) {  // everything suppressed: fall back to the plain argmax of the row
    for (int64_t v = 0; v < n; ++v)
      if (out.token < 0 || logits[v] > logits[out.token]) out.token = static_cast<int32_t>(v);
  }

  // The confidence, on the (possibly masked-out) sampling distribution.
  for (int32_t id : rules.zero_confidence) {
    if (id >= 0 && id < n) l[id] = kNegInf;
  }
  const bool need_entropy = rules.entropy || measure == ConfidenceMeasure::kNegEntropy;
  if (measure == ConfidenceMeasure::kProbability && !need_entropy) {
    // Softmax's value at the token alone: the same max, exponentials and sum, in the same order.
    double m = kNegInf;
    for (double x : l) m = std::max(m, x);
    if (m == kNegInf) {
      out.confidence = l[out.token];
      return out;
    }
    double sum = 0.0;
    for (double x : l) sum += std::exp(x - m);
    out.confidence = std::exp(l[out.token] - m) / sum;
    return out;
  }
  Softmax(l);
  double neg_entropy = 0.0;
  if (need_entropy) {
    for (double p : l) neg_entropy += p * std::log(p + 1e-10);
    out.entropy = -neg_entropy;
  }
  switch (measure) {
    case ConfidenceMeasure::kProbability: out.confidence = l[out.token]; break;
    case ConfidenceMeasure::kMargin: {
      double p1 = 0.0, p2 = 0.0;
      for (double p : l) {
        if (p > p1) {
          p2 = p1;
          p1 = p;
        } else if (p > p2) {
          p2 = p;
        }
      }
      out.confidence = p1 - p2;
      break;
    }
    case ConfidenceMeasure::kNegEntropy: out.confidence = neg_entropy; break;
    case ConfidenceMeasure::kRandom: {
      RngKey k = key;
      k.stream ^= 0x5A5A5A5Aull;
      out.confidence = Uniform(k, 0);
      break;
    }
  }
  return out;
}

void ApplyCfg(std::span<double> cond, std::span<const double> uncond, double w) {
  for (size_t i = 0; i < cond.size(); ++i) cond[i] = uncond[i] + (w + 1.0) * (cond[i] - uncond[i]);
}

std::vector<int64_t> TopK(std::span<const double> c, int64_t k) {
  std::vector<int64_t> idx(c.size());
  std::iota(idx.begin(), idx.end(), 0);
  k = std::clamp<int64_t>(k, 0, static_cast<int64_t>(c.size()));
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](int64_t a, int64_t b) { return c[a] > c[b] || (c[a] == c[b] && a < b); });
  idx.resize(static_cast<size_t>(k));
  return idx;
}

std::vector<int64_t> SampleTopK(std::span<const double> c, int64_t k, double alg_temp,
                                const RngKey& key) {
  std::vector<double> keys(c.size());
  for (size_t i = 0; i < c.size(); ++i) {
    keys[i] = c[i] / alg_temp - std::log(-std::log(Uniform(key, i)));
  }
  return TopK(keys, k);
}

int64_t ThresholdCount(std::span<const double> s, double tau) {
  if (s.empty()) return 0;
  int64_t n = 1;
  while (n < static_cast<int64_t>(s.size()) && s[n] >= tau) ++n;
  return n;
}

int64_t FactorCount(std::span<const double> s, double f) {
  const int64_t n = static_cast<int64_t>(s.size());
  if (n == 0) return 0;
  int64_t first_fail = n;
  for (int64_t r = 1; r < n; ++r) {
    if (s[r] < 1.0 - f / static_cast<double>(r + 2)) {
      first_fail = r;
      break;
    }
  }
  return first_fail == n - 1 ? n : first_fail;
}

int64_t EntropyBoundCount(std::span<const double> h, double gamma) {
  int64_t best = h.empty() ? 0 : 1;
  double sum = 0.0;
  for (int64_t n = 1; n <= static_cast<int64_t>(h.size()); ++n) {
    sum += h[n - 1];
    if (sum - h[n - 1] <= gamma) best = n;  // h sorted ascending: h[n-1] is the max so far
  }
  return best;
}

}  // namespace sculpt
