// The refinement and autoregressive loops: early stop and EOS fill, trimming, remasking, seeds,
// infill keeping its context, AR decoding equal to repeated full passes.
#include <map>

#include "engine/engine.h"
#include "tests/synthetic_model.h"
#include "tests/test_util.h"

namespace sculpt {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<Engine> LoadEngine(const fs::path& p) {
  auto e = Engine::Load(p.string(), {.threads = 1});
  EXPECT_TRUE(e.ok()) << e.status().message();
  return e.ok() ? std::move(e).value() : nullptr;
}

// Every masked position predicts EOS (the mask embedding is all ones, so is the EOS output row).
fs::path EosModel(const std::string& arch) {
  testing::SyntheticSpec s;
  s.arch = arch;
  s.output = [&](int v, int) { return v == s.eos ? 1.0f : 0.0f; };
  const fs::path p = fs::path(::testing::TempDir()) / ("eos-" + arch + ".gguf");
  testing::WriteSynthetic(s, p);
  return p;
}

TEST(Diffusion, EosFillsTheRestAndStops) {
  auto engine = LoadEngine(EosModel("llada"));
  GenerateRequest req;
  req.prompt_tokens = {1, 2, 3};
  req.options.n_generate = 16;
  auto r = engine->Generate(req);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->result.stopped_early);
  EXPECT_EQ(r->result.steps, 1);  // position 0 commits EOS first (ties go left), the rest is filled
  EXPECT_EQ(r->result.ids, std::vector<int32_t>(16, 14));
  EXPECT_EQ(r->text, "");  // the text stops at the first EOS; ids keep the full canvas
  req.options.early_stop = false;
  r = engine->Generate(req);
  EXPECT_FALSE(r->result.stopped_early);
  EXPECT_EQ(r->result.steps, 16);
  EXPECT_EQ(r->result.ids, std::vector<int32_t>(16, 14));
}

TEST(Diffusion, TextIsTrimmedAtTheFirstEndOfGeneration) {
  auto engine = LoadEngine(EosModel("llada"));
  const std::vector<int32_t> ids = {5, 6, 14, 7};
  EXPECT_EQ(*engine->TextUntilEog(ids), "t5t6");
}

TEST(Diffusion, AutoregressiveStopsAtEos) {
  auto engine = LoadEngine(EosModel("llama"));
  GenerateRequest req;
  req.prompt_tokens = {1, 2};
  req.options.n_generate = 8;
  auto r = engine->Generate(req);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->diffusion);
  EXPECT_EQ(r->result.ids, std::vector<int32_t>{14});
  req.options.early_stop = false;
  EXPECT_EQ(engine->Generate(req)->result.ids.size(), 8u);
}

TEST(Diffusion, AutoregressiveEqualsRepeatedFullPasses) {
  SCULPT_REQUIRE_REFERENCE(ref);
  auto engine = LoadEngine(ref / "models/llama-tiny.gguf");
  GenerateRequest req;
  req.prompt_tokens = {506, 40, 41, 300};
  req.options.n_generate = 10;
  req.options.early_stop = false;
  auto r = engine->Generate(req);
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::vector<int32_t> seq = req.prompt_tokens;
  for (int i = 0; i < 10; ++i) {
    const auto logits = (*engine->AllLogits({seq}))[0];
    const float* last = logits.data() + (seq.size() - 1) * 512;
    int32_t best = -1;
    for (int32_t v = 0; v < 512; ++v) {
      if (v != engine->config().mask_id && (best < 0 || last[v] > last[best])) best = v;
    }
    seq.push_back(best);
  }
  EXPECT_EQ(r->result.ids, std::vector<int32_t>(seq.begin() + 4, seq.end()));
  EXPECT_EQ(r->result.rows_computed, 4 + 9) << "the prompt once, then one row per token";
}

TEST(Diffusion, SameSeedSameOutputOtherSeedOtherOutput) {
  SCULPT_REQUIRE_REFERENCE(ref);
  auto engine = LoadEngine(ref / "models/llada-tiny.gguf");
  GenerateRequest req;
  req.prompt_tokens = {506, 100, 101, 102};
  req.options.n_generate = 24;
  req.options.sampler.temperature = 1.0;
  req.options.seed = 1;
  const auto a = engine->Generate(req)->result.ids;
  EXPECT_EQ(engine->Generate(req)->result.ids, a);
  req.options.seed = 2;
  EXPECT_NE(engine->Generate(req)->result.ids, a);
}

TEST(Diffusion, RemaskingRevisesTokensAndKeepsTheContext) {
  SCULPT_REQUIRE_REFERENCE(ref);
  auto engine = LoadEngine(ref / "models/llada-tiny.gguf");
  for (RemaskStrategy strategy : {RemaskStrategy::kConf, RemaskStrategy::kCap, RemaskStrategy::kRescale}) {
    GenerateRequest req;
    req.prompt_tokens = {506, 100, 101, 102, 103};
    req.options.n_generate = 32;
    req.options.block_length = 16;
    req.options.early_stop = false;
    req.options.remask = strategy;
    req.options.remask_eta = 0.5;
    std::map<int64_t, int32_t> first;  // editable index -> first committed token
    int64_t remasked = 0;
    auto r = engine->Generate(req, [&](const StepEvent& e) {
      for (const auto& [idx, tok] : e.committed) first.emplace(idx, tok);
      remasked += static_cast<int64_t>(e.remasked.size());
      return true;
    });
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_GT(remasked, 0);
    int changed = 0;
    for (const auto& [idx, tok] : first) changed += r->result.ids[idx] != tok;
    EXPECT_GT(changed, 0) << "a remasked token should be able to change";
    EXPECT_EQ(std::count(r->result.ids.begin(), r->result.ids.end(), engine->config().mask_id), 0);
    EXPECT_EQ(std::vector<int32_t>(r->result.canvas.begin(), r->result.canvas.begin() + 5),
              req.prompt_tokens);
  }
}

TEST(Diffusion, InfillKeepsTheContext) {
  SCULPT_REQUIRE_REFERENCE(ref);
  auto engine = LoadEngine(ref / "models/dream-tiny.gguf");
  InfillRequest req;
  req.segments = {"def f(x):\n    y = ", "\n    return y\n"};
  req.hole_tokens = {6};
  auto r = engine->Infill(req);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->hole_tokens, std::vector<int64_t>{6});
  EXPECT_EQ(r->result.ids.size(), 6u);
  EXPECT_EQ(r->text, req.segments[0] + r->fills[0] + req.segments[1]);
  req.hole_tokens = {0};  // auto: every candidate size is tried, the best kept
  r = engine->Infill(req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->sizes_tried, static_cast<int64_t>(std::size(kAutoHoleSizes)));
}

}  // namespace
}  // namespace sculpt

namespace sculpt {
namespace {

// Adaptive rules (threshold, factor) decode blocks until they are done, so a block length that
// does not divide the length leaves a short last block; scheduled steps still need a divisor.
TEST(Diffusion, AdaptiveRulesTakeAShortLastBlock) {
  SCULPT_REQUIRE_REFERENCE(ref);
  auto engine = LoadEngine(ref / "models/llada-tiny.gguf");
  ASSERT_NE(engine, nullptr);
  GenerateRequest req;
  req.prompt_tokens = {506, 100, 101, 102};
  req.options.n_generate = 20;
  req.options.block_length = 8;
  req.options.early_stop = false;
  req.options.threshold = 0.9;
  for (CacheMode mode : {CacheMode::kNone, CacheMode::kDual}) {
    req.options.cache = mode;
    auto r = engine->Generate(req);
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r->result.ids.size(), 20u);
    EXPECT_EQ(std::count(r->result.ids.begin(), r->result.ids.end(), engine->config().mask_id), 0);
    // Blocks [0, 8), [8, 16), [16, 20) complete in order.
    for (int64_t b = 1; b < 3; ++b) {
      const int32_t prev_done = *std::max_element(r->result.commit_step.begin() + (b - 1) * 8,
                                                  r->result.commit_step.begin() + b * 8);
      const int32_t first = *std::min_element(r->result.commit_step.begin() + b * 8,
                                              r->result.commit_step.begin() + std::min<int64_t>(20, b * 8 + 8));
      EXPECT_GT(first, prev_done) << CacheModeName(mode) << " block " << b;
    }
  }
  req.options.cache = CacheMode::kNone;
  req.options.threshold = 0.0;
  req.options.steps = 20;
  auto scheduled = engine->Generate(req);
  ASSERT_FALSE(scheduled.ok());
  EXPECT_NE(scheduled.status().message().find("does not divide"), std::string::npos);
}

// Prefix and dual caches: exact under block-causal attention (identical tokens, per-step commits
// and logits-driven confidences to recomputing the whole canvas every step) while computing fewer
// rows; under the model's bidirectional attention they run to completion as approximations.
TEST(DiffusionCache, PrefixAndDualAreExactUnderBlockCausalAttention) {
  SCULPT_REQUIRE_REFERENCE(ref);
  for (const char* model : {"llada-tiny.gguf", "dream-tiny.gguf"}) {  // dream: shifted logits
    SCOPED_TRACE(model);
    auto engine = LoadEngine(ref / "models" / model);
    ASSERT_NE(engine, nullptr);
    for (int64_t threshold_x10 : {0, 3}) {  // the linear schedule, then Fast-dLLM's threshold rule
      GenerateRequest req;
      req.prompt_tokens = {100, 101, 102, 103, 104, 105, 106};
      req.options.n_generate = 24;
      req.options.block_length = 8;
      req.options.schedule = TransferSchedule::kLinear;
      req.options.early_stop = false;
      req.options.block_causal = true;
      req.options.threshold = threshold_x10 / 10.0;
      auto base = engine->Generate(req);
      ASSERT_TRUE(base.ok()) << base.status().message();
      for (CacheMode mode : {CacheMode::kPrefix, CacheMode::kDual}) {
        req.options.cache = mode;
        auto r = engine->Generate(req);
        ASSERT_TRUE(r.ok()) << r.status().message();
        EXPECT_EQ(r->result.ids, base->result.ids) << CacheModeName(mode);
        EXPECT_EQ(r->result.commits_per_step, base->result.commits_per_step) << CacheModeName(mode);
        EXPECT_EQ(r->result.confidence, base->result.confidence) << CacheModeName(mode) << " threshold " << threshold_x10;
        EXPECT_EQ(r->result.forward_passes, base->result.forward_passes);
        EXPECT_LT(r->result.rows_computed, base->result.rows_computed * 3 / 4) << CacheModeName(mode);
      }
      req.options.cache = CacheMode::kNone;
    }
  }
}

TEST(DiffusionCache, BidirectionalCachesAreApproximateButComplete) {
  SCULPT_REQUIRE_REFERENCE(ref);
  auto engine = LoadEngine(ref / "models/llada-tiny.gguf");
  GenerateRequest req;
  req.prompt_tokens = {506, 100, 101, 102};
  req.options.n_generate = 32;
  req.options.block_length = 8;
  req.options.early_stop = false;
  auto base = engine->Generate(req);
  ASSERT_TRUE(base.ok());
  int64_t prefix_rows = 0;
  for (CacheMode mode : {CacheMode::kPrefix, CacheMode::kDual}) {
    req.options.cache = mode;
    auto r = engine->Generate(req);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->result.ids.size(), base->result.ids.size());
    EXPECT_EQ(std::count(r->result.ids.begin(), r->result.ids.end(), engine->config().mask_id), 0);
    EXPECT_EQ(r->result.steps, base->result.steps);
    // The first step of each block is a full pass, so the first block's first commit agrees.
    EXPECT_EQ(r->result.commits_per_step[0], base->result.commits_per_step[0]);
    if (mode == CacheMode::kPrefix) prefix_rows = r->result.rows_computed;
    else EXPECT_LT(r->result.rows_computed, prefix_rows);
  }
  // Infill with a cache: the context stays, every hole is filled.
  InfillRequest ir;
  ir.segments = {"ab", "cd", "ef"};
  ir.hole_tokens = {6};
  ir.options.block_length = 4;
  ir.options.cache = CacheMode::kDual;
  auto fill = engine->Infill(ir);
  ASSERT_TRUE(fill.ok()) << fill.status().message();
  EXPECT_EQ(fill->fills.size(), 2u);
}

TEST(DiffusionCache, BadCombinationsAreClearErrors) {
  GenerationOptions o;
  o.cache = CacheMode::kPrefix;
  o.cfg_scale = 1.0;
  EXPECT_FALSE(o.Validate().ok());
  EXPECT_FALSE(CacheModeByName("full").ok());
  EXPECT_EQ(*CacheModeByName("dual"), CacheMode::kDual);
}

}  // namespace
}  // namespace sculpt
