#include "diffusion/refinement.h"

#include <algorithm>
#include <numeric>

#include "base/timer.h"
#include "sampling/sampling.h"
#include "schedulers/schedulers.h"

namespace sculpt {

namespace {

// Streams of the counter-based RNG (RngKey::stream).
constexpr uint64_t kStreamToken = 1, kStreamPositions = 2, kStreamRemask = 3, kStreamOrigin = 4;

enum class Rule { kSchedule, kOrigin, kThreshold, kFactor, kEntropyBound };

class Refinement {
 public:
  Refinement(Denoiser& d, const DiffusionRequest& req, const GenerationOptions& o,
             const StepCallback& cb, ForwardRunner* runner)
      : d_(d), runner_(runner ? *runner : d), c_(d.config()), o_(o), cb_(cb), canvas_(req.canvas),
        editable_(req.editable), is_generation_(req.is_generation) {}

  StatusOr<GenerationResult> Run();

 private:
  struct Candidate {
    int64_t index;  // editable index
    Proposal proposal;
  };
  Status Setup();
  // The canvas rows [from, to) that the next denoiser call computes, and how it uses the cache.
  struct Window {
    int64_t from = 0, to = 0;
    bool fill_cache = false;  // the block's first step: run everything, keep keys/values
  };
  Window PlanWindow(int64_t block_first_pos, int64_t block_end_pos, bool first_step_of_block) const;
  Status Propose(const std::vector<int64_t>& indices, const Window& w, std::vector<Candidate>* out);
  std::vector<int64_t> Choose(std::vector<Candidate>& cands, int64_t k, bool last_step);
  void Remask(int64_t block_begin, int64_t block_end, int64_t block_step, int64_t block_steps,
              StepEvent* event, int64_t* debt);
  bool EarlyStop(StepEvent* event);
  int64_t MaskedIn(int64_t begin, int64_t end) const;
  bool Masked(int64_t index) const { return canvas_[editable_[index]] == c_.mask_id; }

  Denoiser& d_;
  ForwardRunner& runner_;
  const ModelConfig& c_;
  const GenerationOptions& o_;
  const StepCallback& cb_;
  std::vector<int32_t> canvas_;
  std::vector<int64_t> editable_;
  bool is_generation_;

  Rule rule_ = Rule::kSchedule;
  bool timestep_ = false;
  ConfidenceMeasure measure_ = ConfidenceMeasure::kProbability;
  std::vector<int32_t> never_, suppress_, zero_conf_;
  int64_t step_ = 0;
  GenerationResult res_;
  // Buffers reused across steps.
  std::vector<int32_t> uncond_, rows_, positions_;
  KVCache cache_;
  int64_t cache_keep_ = 0;    // rows the cache holds between steps of the current block
  int64_t block_origin_ = 0;  // first editable position: block 0 of block-causal attention
  int64_t block_len_ = 0;
  Logits logits_;
  std::vector<double> row_, urow_, scratch_;
};

Status Refinement::Setup() {
  SCULPT_RETURN_IF_ERROR(o_.Validate());
  if (c_.causal) return InvalidArgument("the refinement loop needs a diffusion (non-causal) model");
  if (c_.mask_id < 0) {
    return InvalidArgument("the model has no mask token (tokenizer.ggml.mask_token_id)");
  }
  if (editable_.empty()) return InvalidArgument("nothing to generate: no editable position");
  for (size_t i = 0; i < editable_.size(); ++i) {
    const int64_t p = editable_[i];
    if (p < 0 || p >= static_cast<int64_t>(canvas_.size()) || (i && p <= editable_[i - 1])) {
      return InvalidArgument("editable positions must be ascending and inside the canvas");
    }
    canvas_[p] = c_.mask_id;
  }
  if (static_cast<int64_t>(canvas_.size()) > c_.n_ctx_train) {
    return OutOfRange("canvas of {} tokens exceeds the model's context length {}; lower -n or "
                      "shorten the prompt", canvas_.size(), c_.n_ctx_train);
  }
  if (o_.algorithm == "origin") {
    rule_ = Rule::kOrigin;
  } else {
    SCULPT_ASSIGN_OR_RETURN(measure_, ConfidenceMeasureByName(o_.algorithm));
    if (o_.threshold > 0) rule_ = Rule::kThreshold;
    if (o_.factor > 0) rule_ = Rule::kFactor;
    if (o_.eb_gamma > 0) rule_ = Rule::kEntropyBound;
  }
  switch (o_.schedule) {
    case TransferSchedule::kLinear: timestep_ = false; break;
    case TransferSchedule::kTimestep: timestep_ = true; break;
    case TransferSchedule::kAuto: timestep_ = c_.arch->default_schedule == "timestep"; break;
  }
  never_ = {c_.mask_id};
  if (o_.suppress_eos && c_.eos_id >= 0) suppress_.push_back(c_.eos_id);
  if (o_.no_eos_confidence) {
    for (int32_t id : {c_.eos_id, c_.eot_id})
      if (id >= 0) zero_conf_.push_back(id);
  }
  if (o_.cache != CacheMode::kNone) cache_ = d_.NewCache(static_cast<int64_t>(canvas_.size()));
  block_origin_ = editable_.front();
  const size_t n = editable_.size();
  res_.commit_step.assign(n, -1);
  res_.confidence.assign(n, 0.0);
  return Status::Ok();
}

// Which rows a step computes. No cache: the whole canvas. The first step of a block with a cache:
// the whole canvas, keeping every row's keys/values; the prefix cache then keeps only the rows
// before the block (one row earlier for shifted logits, whose first prediction comes from the row
// before), the dual cache keeps them all. Later steps of the block: prefix cache, the rows from the
// block on (only up to the block's end under block-causal attention, where later rows are
// invisible to the block); dual cache, the block's rows only, written over their cached keys and
// values so that every query sees its keys in canvas order, as without a cache.
Refinement::Window Refinement::PlanWindow(int64_t block_first_pos, int64_t block_end_pos,
                                          bool first_step_of_block) const {
  const int64_t N = static_cast<int64_t>(canvas_.size());
  if (o_.cache == CacheMode::kNone || first_step_of_block) return {0, N, o_.cache != CacheMode::kNone};
  const int64_t from = std::max<int64_t>(0, block_first_pos - (c_.shift_logits ? 1 : 0));
  if (o_.cache == CacheMode::kDual || o_.block_causal) return {from, block_end_pos, false};
  return {from, N, false};
}

// One denoiser call over the window w: logits for the rows that predict the given editable
// indices (shifted when the model says so), combined with the unconditional pass under CFG, then
// a proposal each.
Status Refinement::Propose(const std::vector<int64_t>& indices, const Window& w,
                           std::vector<Candidate>* out) {
  rows_.clear();
  for (int64_t i : indices) rows_.push_back(static_cast<int32_t>(c_.LogitsRowFor(editable_[i]) - w.from));
  std::vector<int32_t> unique_rows = rows_;
  std::sort(unique_rows.begin(), unique_rows.end());
  unique_rows.erase(std::unique(unique_rows.begin(), unique_rows.end()), unique_rows.end());

  SequenceInput seq[2];
  seq[0].tokens = std::span<const int32_t>(canvas_).subspan(w.from, w.to - w.from);
  seq[0].attention = o_.block_causal ? AttentionMode::kBlockCausal : c_.NativeAttention();
  seq[0].block_size = block_len_;
  seq[0].block_origin = block_origin_;
  seq[0].logit_rows = unique_rows;
  const bool cached = o_.cache != CacheMode::kNone;
  if (cached) {
    if (w.fill_cache) cache_.Clear();
    positions_.resize(static_cast<size_t>(w.to - w.from));
    std::iota(positions_.begin(), positions_.end(), static_cast<int32_t>(w.from));
    seq[0].positions = positions_;
    seq[0].cache = &cache_;
    // Dual cache: the block's rows are rewritten in place, so keys stay in canvas order.
    if (o_.cache == CacheMode::kDual && !w.fill_cache) seq[0].cache_overwrite = w.from;
  }
  const bool cfg = o_.cfg_scale > 0.0;
  if (cfg) {  // unconditional input: the canvas with every non-editable position masked
    uncond_.assign(canvas_.size(), c_.mask_id);
    for (int64_t p : editable_) uncond_[p] = canvas_[p];
    seq[1] = seq[0];
    seq[1].tokens = uncond_;
  }
  SCULPT_RETURN_IF_ERROR(runner_.Forward({seq, cfg ? 2u : 1u}, &logits_));
  ++res_.forward_passes;
  res_.rows_computed += (w.to - w.from) * (cfg ? 2 : 1);
  if (cached) cache_.Truncate(cache_keep_);

  const int64_t V = c_.n_vocab, R = static_cast<int64_t>(unique_rows.size());
  out->clear();
  for (size_t k = 0; k < indices.size(); ++k) {
    const int64_t r = std::lower_bound(unique_rows.begin(), unique_rows.end(), rows_[k]) - unique_rows.begin();
    row_.assign(logits_.row(r), logits_.row(r) + V);
    if (cfg) {
      urow_.assign(logits_.row(R + r), logits_.row(R + r) + V);
      ApplyCfg(row_, urow_, o_.cfg_scale);
    }
    const RngKey key{o_.seed, kStreamToken, static_cast<uint64_t>(step_),
                     static_cast<uint64_t>(editable_[indices[k]])};
    const ProposalRules rules{never_, suppress_, zero_conf_, rule_ == Rule::kEntropyBound};
    out->push_back({indices[k], sculpt::Propose(row_, o_.sampler, measure_, rules, key, &scratch_)});
  }
  return Status::Ok();
}

// Which candidates to commit. `k` is the schedule's count (ignored by adaptive rules and origin).
std::vector<int64_t> Refinement::Choose(std::vector<Candidate>& cands, int64_t k, bool last_step) {
  std::vector<double> conf(cands.size());
  for (size_t i = 0; i < cands.size(); ++i) conf[i] = cands[i].proposal.confidence;
  std::vector<int64_t> picked;
  switch (rule_) {
    case Rule::kSchedule:
      picked = o_.alg_temp > 0.0
                   ? SampleTopK(conf, k, o_.alg_temp,
                                RngKey{o_.seed, kStreamPositions, static_cast<uint64_t>(step_), 0})
                   : TopK(conf, k);
      break;
    case Rule::kOrigin:
      for (size_t i = 0; i < cands.size(); ++i) {
        const RngKey key{o_.seed, kStreamOrigin, static_cast<uint64_t>(step_),
                         static_cast<uint64_t>(editable_[cands[i].index])};
        if (last_step || Uniform(key, 0) < conf[i]) picked.push_back(static_cast<int64_t>(i));
      }
      break;
    case Rule::kThreshold:
    case Rule::kFactor: {
      picked = TopK(conf, static_cast<int64_t>(conf.size()));  // all, by confidence
      std::vector<double> sorted(picked.size());
      for (size_t i = 0; i < picked.size(); ++i) sorted[i] = conf[picked[i]];
      const int64_t n = rule_ == Rule::kThreshold ? ThresholdCount(sorted, o_.threshold)
                                                  : FactorCount(sorted, o_.factor);
      picked.resize(static_cast<size_t>(n));
      break;
    }
    case Rule::kEntropyBound: {
      std::vector<double> neg_h(cands.size());
      for (size_t i = 0; i < cands.size(); ++i) neg_h[i] = -cands[i].proposal.entropy;
      picked = TopK(neg_h, static_cast<int64_t>(neg_h.size()));  // ascending entropy
      std::vector<double> sorted(picked.size());
      for (size_t i = 0; i < picked.size(); ++i) sorted[i] = -neg_h[picked[i]];
      picked.resize(static_cast<size_t>(EntropyBoundCount(sorted, o_.eb_gamma)));
      break;
    }
  }
  return picked;
}

int64_t Refinement::MaskedIn(int64_t begin, int64_t end) const {
  int64_t n = 0;
  for (int64_t i = begin; i < end; ++i) n += Masked(i);
  return n;
}

void Refinement::Remask(int64_t begin, int64_t end, int64_t block_step, int64_t block_steps,
                        StepEvent* event, int64_t* debt) {
  std::vector<int64_t> eligible;  // committed in this block before this step
  for (int64_t i = begin; i < end; ++i) {
    if (!Masked(i) && res_.commit_step[i] >= 0 && res_.commit_step[i] < step_) eligible.push_back(i);
  }
  if (eligible.empty()) return;
  // Linear schedule over the block: t = 1 - j/steps now, s = 1 - (j+1)/steps next.
  const double t = 1.0 - static_cast<double>(block_step) / block_steps;
  const double s = 1.0 - static_cast<double>(block_step + 1) / block_steps;
  const double alpha_t = 1.0 - t, alpha_s = 1.0 - s;
  const double sigma_max = alpha_t > 0.0 ? std::min(1.0, (1.0 - alpha_s) / alpha_t) : 1.0;
  std::vector<int64_t> chosen;
  if (o_.remask == RemaskStrategy::kConf) {
    std::vector<double> neg(eligible.size());
    for (size_t i = 0; i < eligible.size(); ++i) neg[i] = -res_.confidence[eligible[i]];
    const auto n = static_cast<int64_t>(o_.remask_eta * static_cast<double>(eligible.size()));
    for (int64_t j : TopK(neg, n)) chosen.push_back(eligible[j]);
    std::sort(chosen.begin(), chosen.end());
  } else {
    const double sigma = o_.remask == RemaskStrategy::kCap ? std::min(o_.remask_eta, sigma_max)
                                                           : o_.remask_eta * sigma_max;
    for (int64_t i : eligible) {
      const RngKey key{o_.seed, kStreamRemask, static_cast<uint64_t>(step_),
                       static_cast<uint64_t>(editable_[i])};
      if (Uniform(key, 0) < sigma) chosen.push_back(i);
    }
  }
  for (int64_t i : chosen) {
    canvas_[editable_[i]] = c_.mask_id;
    res_.commit_step[i] = -1;
  }
  *debt += static_cast<int64_t>(chosen.size());
  event->remasked = chosen;
}

// Variable length: once an end-of-generation token is committed and everything before it is
// final, the rest of the generation area becomes that token.
bool Refinement::EarlyStop(StepEvent* event) {
  if (!is_generation_ || !o_.early_stop) return false;
  const int64_t n = static_cast<int64_t>(editable_.size());
  for (int64_t i = 0; i < n; ++i) {
    if (Masked(i)) return false;
    const int32_t tok = canvas_[editable_[i]];
    if (!c_.IsEog(tok)) continue;
    for (int64_t j = i + 1; j < n; ++j) {
      if (Masked(j)) {
        canvas_[editable_[j]] = tok;
        res_.commit_step[j] = static_cast<int32_t>(step_);
        event->committed.emplace_back(j, tok);
      }
    }
    return true;
  }
  return false;
}

StatusOr<GenerationResult> Refinement::Run() {
  SCULPT_RETURN_IF_ERROR(Setup());
  Timer total;
  const int64_t n = static_cast<int64_t>(editable_.size());
  const bool adaptive = o_.Adaptive();
  const int64_t block_len = o_.block_length > 0 ? o_.block_length : n;
  block_len_ = block_len;
  // Scheduled rules split the steps evenly over blocks that divide the length (as the official
  // samplers do); adaptive rules take steps until a block is done, so their last block may be short.
  BlockPlan plan;
  if (adaptive) {
    plan.n_blocks = (n + block_len - 1) / block_len;
    plan.steps_per_block = 1;
  } else {
    SCULPT_ASSIGN_OR_RETURN(plan, PlanBlocks(n, block_len, o_.EffectiveSteps()));
  }
  std::vector<Candidate> cands;
  std::vector<int64_t> indices;
  for (int64_t b = 0; b < plan.n_blocks && !res_.stopped_early && !res_.cancelled; ++b) {
    const int64_t begin = b * block_len, end = std::min(begin + block_len, n);
    const int64_t spb = plan.steps_per_block;
    const std::vector<int64_t> counts = LinearTransferCounts(MaskedIn(begin, end), spb);
    int64_t debt = 0;
    const int64_t block_first_pos = editable_[begin];
    const int64_t block_end_pos = editable_[end - 1] + 1;
    bool block_cached = false;  // the cache holds this block's prefix (and suffix)
    for (int64_t j = 0; adaptive ? MaskedIn(begin, end) > 0 : j < spb; ++j) {
      Timer step_timer;
      const bool last = !adaptive && j == spb - 1;
      const int64_t remaining = MaskedIn(begin, end);
      int64_t k = remaining;
      if (!adaptive && !last) {
        k = timestep_ ? TimestepTransferCount(remaining, j, spb, o_.eps) : counts[j] + debt;
        k = std::min(k, remaining);
      }
      if (rule_ == Rule::kOrigin) k = remaining;
      debt = 0;
      StepEvent event;
      event.step = step_;
      event.block = b;
      std::vector<int64_t> committed;
      if (k > 0) {
        indices.clear();  // candidates: masked editable positions before the end of the block
        for (int64_t i = 0; i < end; ++i)
          if (Masked(i)) indices.push_back(i);
        const Window w = PlanWindow(block_first_pos, block_end_pos, !block_cached);
        if (w.fill_cache) {  // what the cache keeps after this step, for the rest of the block
          cache_keep_ = o_.cache == CacheMode::kDual
                            ? static_cast<int64_t>(canvas_.size())
                            : PlanWindow(block_first_pos, block_end_pos, false).from;
        }
        SCULPT_RETURN_IF_ERROR(Propose(indices, w, &cands));
        block_cached |= w.fill_cache;
        if (rule_ == Rule::kOrigin) {  // reveal probability as the "confidence" of each position
          const double t = 1.0 - static_cast<double>(j) * (1.0 - o_.eps) / spb;
          const double s = 1.0 - static_cast<double>(j + 1) * (1.0 - o_.eps) / spb;
          for (Candidate& cd : cands) cd.proposal.confidence = RevealProbability(o_.origin_noise, t, s, o_.eps);
        }
        for (int64_t pick : Choose(cands, k, last)) {
          const Candidate& cd = cands[pick];
          canvas_[editable_[cd.index]] = cd.proposal.token;
          res_.commit_step[cd.index] = static_cast<int32_t>(step_);
          res_.confidence[cd.index] = cd.proposal.confidence;
          committed.push_back(cd.index);
          event.committed.emplace_back(cd.index, cd.proposal.token);
        }
      }
      if (o_.remask != RemaskStrategy::kNone && !last) Remask(begin, end, j, spb, &event, &debt);
      res_.stopped_early = EarlyStop(&event);
      std::sort(committed.begin(), committed.end());
      res_.commits_per_step.push_back(std::move(committed));
      event.n_masked = MaskedIn(0, n);
      event.canvas = &canvas_;
      event.step_ms = step_timer.Millis();
      ++step_;
      if (cb_ && !cb_(event)) res_.cancelled = true;
      if (res_.stopped_early || res_.cancelled) break;
    }
  }
  res_.steps = step_;
  res_.canvas = canvas_;
  res_.ids.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) res_.ids[i] = canvas_[editable_[i]];
  res_.total_ms = total.Millis();
  return std::move(res_);
}

}  // namespace

StatusOr<GenerationResult> RunRefinement(Denoiser& denoiser, const DiffusionRequest& request,
                                         const GenerationOptions& options,
                                         const StepCallback& callback, ForwardRunner* runner) {
  Refinement loop(denoiser, request, options, callback, runner);
  return loop.Run();
}

StatusOr<GenerationResult> RunAutoregressive(Denoiser& d, const std::vector<int32_t>& prompt,
                                             const GenerationOptions& o,
                                             const StepCallback& callback, ForwardRunner* runner) {
  SCULPT_RETURN_IF_ERROR(o.Validate());
  ForwardRunner& run = runner ? *runner : d;
  const ModelConfig& c = d.config();
  if (prompt.empty()) return InvalidArgument("the prompt is empty");
  const int64_t total_len = static_cast<int64_t>(prompt.size()) + o.n_generate;
  if (total_len > c.n_ctx_train) {
    return OutOfRange("prompt ({} tokens) + -n {} exceeds the model's context length {}",
                      prompt.size(), o.n_generate, c.n_ctx_train);
  }
  Timer total;
  GenerationResult res;
  KVCache cache = d.NewCache(total_len);
  std::vector<int32_t> suppress, never;
  if (o.suppress_eos && c.eos_id >= 0) suppress.push_back(c.eos_id);
  if (c.mask_id >= 0) never.push_back(c.mask_id);
  const ProposalRules rules{never, suppress, {}};
  std::vector<int32_t> input = prompt, canvas = prompt;
  std::vector<double> row, scratch;
  Logits logits;
  for (int64_t i = 0; i < o.n_generate; ++i) {
    Timer step_timer;
    const int32_t last = static_cast<int32_t>(input.size() - 1);
    SequenceInput seq;
    seq.tokens = input;
    seq.attention = AttentionMode::kCausal;
    seq.logit_rows = {&last, 1};
    seq.cache = &cache;
    SCULPT_RETURN_IF_ERROR(run.Forward({&seq, 1}, &logits));
    ++res.forward_passes;
    res.rows_computed += static_cast<int64_t>(input.size());
    row.assign(logits.row(0), logits.row(0) + c.n_vocab);
    const RngKey key{o.seed, kStreamToken, static_cast<uint64_t>(i), static_cast<uint64_t>(canvas.size())};
    const Proposal p = Propose(row, o.sampler, ConfidenceMeasure::kProbability, rules, key, &scratch);
    canvas.push_back(p.token);
    res.ids.push_back(p.token);
    res.commit_step.push_back(static_cast<int32_t>(i));
    res.confidence.push_back(p.confidence);
    res.commits_per_step.push_back({i});
    input.assign(1, p.token);
    ++res.steps;
    StepEvent event;
    event.step = i;
    event.committed.emplace_back(i, p.token);
    event.canvas = &canvas;
    event.step_ms = step_timer.Millis();
    if (callback && !callback(event)) {
      res.cancelled = true;
      break;
    }
    if (o.early_stop && c.IsEog(p.token)) {
      res.stopped_early = true;
      break;
    }
  }
  res.canvas = std::move(canvas);
  res.total_ms = total.Millis();
  return res;
}

}  // namespace sculpt
