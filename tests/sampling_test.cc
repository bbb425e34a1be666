// Samplers, confidence measures and commit rules on hand-built logits.
#include "sampling/sampling.h"

#include <cmath>
#include <set>

#include <gtest/gtest.h>

namespace sculpt {
namespace {

Proposal P(const std::vector<double>& l, ConfidenceMeasure m, const ProposalRules& r = {},
           SamplerOptions o = {}, uint64_t seed = 0) {
  std::vector<double> scratch;
  return Propose(l, o, m, r, RngKey{seed, 1, 0, 0}, &scratch);
}

double Softmax(const std::vector<double>& l, size_t i) {
  double sum = 0;
  for (double x : l) sum += std::exp(x);
  return std::exp(l[i]) / sum;
}

TEST(Sampling, ArgmaxAndConfidences) {
  const std::vector<double> l = {1.0, 3.0, 2.0, 3.0 - 1e-9};
  const Proposal p = P(l, ConfidenceMeasure::kProbability);
  EXPECT_EQ(p.token, 1);
  EXPECT_NEAR(p.confidence, Softmax(l, 1), 1e-15);
  EXPECT_NEAR(P(l, ConfidenceMeasure::kMargin).confidence, Softmax(l, 1) - Softmax(l, 3), 1e-15);
  double neg_h = 0;
  for (size_t i = 0; i < l.size(); ++i) neg_h += Softmax(l, i) * std::log(Softmax(l, i) + 1e-10);
  EXPECT_NEAR(P(l, ConfidenceMeasure::kNegEntropy).confidence, neg_h, 1e-14);
  EXPECT_LE(P(l, ConfidenceMeasure::kNegEntropy).confidence, 0.0);
  EXPECT_EQ(P({2.0, 2.0, 1.0}, ConfidenceMeasure::kProbability).token, 0);  // tie -> lower id
  const double r = P(l, ConfidenceMeasure::kRandom).confidence;
  EXPECT_GT(r, 0.0);
  EXPECT_LT(r, 1.0);
}

TEST(Sampling, MaskIsNeverProposedButStaysInTheSoftmax) {
  const std::vector<double> l = {1.0, 5.0, 2.0};
  const int32_t mask = 1;
  const Proposal p = P(l, ConfidenceMeasure::kProbability, ProposalRules{{&mask, 1}, {}, {}});
  EXPECT_EQ(p.token, 2);
  EXPECT_NEAR(p.confidence, Softmax(l, 2), 1e-15);
}

TEST(Sampling, EosSwitches) {
  const std::vector<double> l = {1.0, 4.0, 2.0, 3.5};  // eos = 1, eot = 3
  const int32_t eos = 1;
  const int32_t eos_eot[] = {1, 3};
  // logits_eos_inf: EOS can never win and confidences renormalise without it.
  const Proposal s = P(l, ConfidenceMeasure::kProbability, ProposalRules{{}, {&eos, 1}, {}});
  EXPECT_EQ(s.token, 3);
  EXPECT_NEAR(s.confidence, std::exp(3.5) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.5)), 1e-15);
  // confidence_eos_eot_inf: the choice stays EOS, its confidence becomes 0.
  const Proposal z = P(l, ConfidenceMeasure::kProbability, ProposalRules{{}, {}, eos_eot});
  EXPECT_EQ(z.token, 1);
  EXPECT_EQ(z.confidence, 0.0);
  const Proposal other = P({1.0, 0.0, 4.0, 3.0}, ConfidenceMeasure::kProbability, ProposalRules{{}, {}, eos_eot});
  EXPECT_NEAR(other.confidence, std::exp(4.0) / (std::exp(1.0) + std::exp(4.0)), 1e-15);
}

TEST(Sampling, TemperatureSamplesDependOnTheSeedOnly) {
  std::vector<double> l(64);
  for (size_t i = 0; i < l.size(); ++i) l[i] = std::sin(static_cast<double>(i));
  SamplerOptions o;
  o.temperature = 1.0;
  std::set<int32_t> seen;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const int32_t a = P(l, ConfidenceMeasure::kProbability, {}, o, seed).token;
    EXPECT_EQ(a, P(l, ConfidenceMeasure::kProbability, {}, o, seed).token);
    seen.insert(a);
  }
  EXPECT_GT(seen.size(), 5u);
  o.top_k = 1;  // top-k 1 is argmax whatever the seed
  for (uint64_t seed = 0; seed < 10; ++seed) {
    EXPECT_EQ(P(l, ConfidenceMeasure::kProbability, {}, o, seed).token, P(l, ConfidenceMeasure::kProbability).token);
  }
  o.top_k = 0;
  o.top_p = 1e-9;  // the nucleus is the single most likely token
  EXPECT_EQ(P(l, ConfidenceMeasure::kProbability, {}, o, 3).token, P(l, ConfidenceMeasure::kProbability).token);
}

TEST(Sampling, ClassifierFreeGuidance) {
  std::vector<double> cond = {1.0, 2.0};
  const std::vector<double> uncond = {0.5, 3.0};
  ApplyCfg(cond, uncond, 1.0);  // u + 2 (c - u)
  EXPECT_EQ(cond, (std::vector<double>{1.5, 1.0}));
}

TEST(Sampling, CommitRules) {
  EXPECT_EQ(TopK(std::vector<double>{0.1, 0.9, 0.5, 0.9}, 3), (std::vector<int64_t>{1, 3, 2}));
  const std::vector<double> sorted = {0.95, 0.8, 0.7, 0.2};
  EXPECT_EQ(ThresholdCount(sorted, 0.75), 2);
  EXPECT_EQ(ThresholdCount(sorted, 0.99), 1);  // the top one always
  // Factor f = 1: tau_1 = 2/3, tau_2 = 3/4 -> rank 2 (0.7) fails first.
  EXPECT_EQ(FactorCount(sorted, 1.0), 2);
  // The quirk: the first failure is the last rank -> all are committed.
  EXPECT_EQ(FactorCount(std::vector<double>{0.9, 0.1}, 1.0), 2);
  EXPECT_EQ(FactorCount(std::vector<double>{0.9, 0.95, 0.1}, 1.0), 3);
  EXPECT_EQ(EntropyBoundCount(std::vector<double>{0.1, 0.2, 0.3, 5.0}, 0.35), 3);
  EXPECT_EQ(EntropyBoundCount(std::vector<double>{0.1, 0.2, 0.3, 5.0}, 0.6), 4);
  EXPECT_EQ(EntropyBoundCount(std::vector<double>{9.0, 9.5}, 0.0), 1);
  const auto picked = SampleTopK(std::vector<double>{0.1, 0.2, 0.9, 0.3}, 2, 0.01, RngKey{7, 2, 0, 0});
  EXPECT_EQ(picked.size(), 2u);
  EXPECT_EQ(picked[0], 2);  // a very low alg_temp makes it (almost surely) the top one
}

}  // namespace
}  // namespace sculpt
