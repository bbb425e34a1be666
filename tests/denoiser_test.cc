// Forward-pass behaviours beyond the reference logits: attention modes, row selection, shift rule.
#include "denoiser/denoiser.h"
#include "tests/test_util.h"

namespace sculpt {
namespace {

using testing::MaxAbsDiff;

Logits RunForward(Denoiser& d, const std::vector<int32_t>& tokens, AttentionMode mode, int64_t block,
           const std::vector<int32_t>& rows) {
  SequenceInput in;
  in.tokens = tokens;
  in.attention = mode;
  in.block_size = block;
  in.logit_rows = rows;
  Logits out;
  const Status s = d.Forward({&in, 1}, &out);
  EXPECT_TRUE(s.ok()) << s.message();
  return out;
}

std::vector<int32_t> Iota(int n) {
  std::vector<int32_t> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  return v;
}

TEST(Denoiser, BlockCausalSpansCausalAndBidirectional) {
  SCULPT_REQUIRE_REFERENCE(ref);
  auto d = Denoiser::Load((ref / "models/llada-tiny.gguf").string());
  ASSERT_TRUE(d.ok());
  const std::vector<int32_t> tokens = {506, 40, 41, 42, 43, 44, 508, 508, 508};
  const auto rows = Iota(9);
  const Logits bidir = RunForward(**d, tokens, AttentionMode::kBidirectional, 0, rows);
  const Logits causal = RunForward(**d, tokens, AttentionMode::kCausal, 0, rows);
  const Logits one_block = RunForward(**d, tokens, AttentionMode::kBlockCausal, 9, rows);
  const Logits unit_blocks = RunForward(**d, tokens, AttentionMode::kBlockCausal, 1, rows);
  const size_t n = bidir.data.size();
  EXPECT_EQ(MaxAbsDiff(one_block.data.data(), bidir.data.data(), n), 0.0f);
  EXPECT_EQ(MaxAbsDiff(unit_blocks.data.data(), causal.data.data(), n), 0.0f);
  EXPECT_GT(MaxAbsDiff(causal.data.data(), bidir.data.data(), n), 1e-3f);
  // Blocks of 4: rows 0..3 see only block 0, so they equal a pass over the first 4 tokens.
  const Logits blocks4 = RunForward(**d, tokens, AttentionMode::kBlockCausal, 4, rows);
  const std::vector<int32_t> first4(tokens.begin(), tokens.begin() + 4);
  const Logits alone = RunForward(**d, first4, AttentionMode::kBidirectional, 0, Iota(4));
  EXPECT_EQ(MaxAbsDiff(blocks4.data.data(), alone.data.data(), alone.data.size()), 0.0f);
}

TEST(Denoiser, OnlyRequestedRowsInRequestedOrder) {
  SCULPT_REQUIRE_REFERENCE(ref);
  auto d = Denoiser::Load((ref / "models/dream-tiny.gguf").string());
  ASSERT_TRUE(d.ok());
  const std::vector<int32_t> tokens = {10, 20, 30, 510, 510, 40};
  const Logits all = RunForward(**d, tokens, AttentionMode::kBidirectional, 0, Iota(6));
  const Logits some = RunForward(**d, tokens, AttentionMode::kBidirectional, 0, {4, 2});
  ASSERT_EQ(some.rows, 2);
  EXPECT_EQ(MaxAbsDiff(some.row(0), all.row(4), all.n_vocab), 0.0f);
  EXPECT_EQ(MaxAbsDiff(some.row(1), all.row(2), all.n_vocab), 0.0f);
}

TEST(Denoiser, ShiftRuleFollowsTheFile) {
  SCULPT_REQUIRE_REFERENCE(ref);
  auto dream = Denoiser::Load((ref / "models/dream-tiny.gguf").string());
  auto llada = Denoiser::Load((ref / "models/llada-tiny.gguf").string());
  ASSERT_TRUE(dream.ok() && llada.ok());
  EXPECT_TRUE((*dream)->config().shift_logits);  // key absent => shift
  EXPECT_EQ((*dream)->config().LogitsRowFor(0), 0);
  EXPECT_EQ((*dream)->config().LogitsRowFor(5), 4);
  EXPECT_FALSE((*llada)->config().shift_logits);  // diffusion.shift_logits = false
  EXPECT_EQ((*llada)->config().LogitsRowFor(5), 5);
}

TEST(Denoiser, BadInputsAreErrors) {
  SCULPT_REQUIRE_REFERENCE(ref);
  auto d = Denoiser::Load((ref / "models/llama-tiny.gguf").string());
  ASSERT_TRUE(d.ok());
  Logits out;
  const std::vector<int32_t> bad = {1, 512};
  const std::vector<int32_t> rows = {0, 2};
  SequenceInput in;
  in.tokens = bad;
  EXPECT_EQ((*d)->Forward({&in, 1}, &out).code(), StatusCode::kOutOfRange);
  const std::vector<int32_t> ok = {1, 2};
  in.tokens = ok;
  in.logit_rows = rows;
  EXPECT_EQ((*d)->Forward({&in, 1}, &out).code(), StatusCode::kOutOfRange);
  in.logit_rows = {};
  in.attention = AttentionMode::kBlockCausal;
  EXPECT_EQ((*d)->Forward({&in, 1}, &out).code(), StatusCode::kInvalidArgument);
  KVCache small = (*d)->NewCache(1);
  in.attention = AttentionMode::kCausal;
  in.cache = &small;
  EXPECT_EQ((*d)->Forward({&in, 1}, &out).code(), StatusCode::kOutOfRange);
  EXPECT_EQ((*d)->Forward({}, &out).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sculpt
