#include "engine/engine.h"

#include <cmath>
#include <optional>

namespace sculpt {

StatusOr<ModelInfo> InspectModel(const std::string& path) {
  SCULPT_ASSIGN_OR_RETURN(gguf::File file, gguf::File::Open(path));
  ModelInfo info;
  info.path = path;
  info.file_size = file.file_size();
  info.gguf_version = file.version();
  info.n_metadata = file.metadata().size();
  info.n_tensors = file.tensors().size();
  for (const gguf::TensorInfo& t : file.tensors()) {
    ++info.tensor_types[kernels::TypeName(t.type_id)];
    info.n_parameters += static_cast<uint64_t>(t.n_elements);
  }
  if (const gguf::Value* v = file.Find("general.architecture"); v && v->type == gguf::ValueType::kString) {
    info.architecture = std::string(v->str);
  }
  if (const gguf::Value* v = file.Find("tokenizer.ggml.model"); v && v->type == gguf::ValueType::kString) {
    info.tokenizer_model = std::string(v->str);
  }
  if (const gguf::Value* v = file.Find("tokenizer.ggml.tokens"); v && v->type == gguf::ValueType::kArray) {
    info.tokenizer_vocab = static_cast<int64_t>(v->items.size());
  }
  if (file.tensors().empty()) return info;  // vocab-only: nothing more to validate

  auto config = ReadModelConfig(file);
  if (!config.ok()) return Status(config.status().code(), path + ": " + config.status().message());
  auto weights = BindWeights(file, *config);
  if (!weights.ok()) return Status(weights.status().code(), path + ": " + weights.status().message());
  info.has_model = true;
  info.config = std::move(config).value();
  info.tied_output = weights->tied_output;
  return info;
}

StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& path) {
  SCULPT_ASSIGN_OR_RETURN(gguf::File file, gguf::File::Open(path));
  auto t = Tokenizer::FromGguf(file);
  if (!t.ok()) return Status(t.status().code(), path + ": " + t.status().message());
  return t;
}

StatusOr<ChatTemplate> ResolveChatTemplate(const Vocab& vocab, std::string_view override_name) {
  if (!override_name.empty()) return ChatTemplateByName(override_name);
  const ArchTraits* arch = FindArch(vocab.architecture);
  return DetectChatTemplate(vocab.chat_template, arch ? arch->default_chat_template : "plain");
}

StatusOr<std::unique_ptr<Engine>> Engine::Load(const std::string& path,
                                               const EngineOptions& options) {
  SetThreads(options.threads);
  LoadOptions load;
  load.progress = options.progress;
  SCULPT_ASSIGN_OR_RETURN(std::unique_ptr<Denoiser> d, Denoiser::Load(path, load));
  std::unique_ptr<Tokenizer> tokenizer;
  if (d->file().Find("tokenizer.ggml.model")) {
    auto t = Tokenizer::FromGguf(d->file());
    if (!t.ok()) return Status(t.status().code(), path + ": " + t.status().message());
    tokenizer = std::move(t).value();
    if (tokenizer->n_vocab() != d->config().n_vocab) {
      return DataLoss("{}: the tokenizer has {} tokens but the model's vocabulary is {}", path,
                      tokenizer->n_vocab(), d->config().n_vocab);
    }
  }
  return std::unique_ptr<Engine>(new Engine(std::move(d), std::move(tokenizer)));
}

StatusOr<std::vector<std::vector<float>>> Engine::AllLogits(
    const std::vector<std::vector<int32_t>>& seqs) {
  const ModelConfig& c = config();
  std::vector<std::vector<int32_t>> rows(seqs.size());
  std::vector<SequenceInput> batch(seqs.size());
  for (size_t s = 0; s < seqs.size(); ++s) {
    if (static_cast<int64_t>(seqs[s].size()) > c.n_ctx_train) {
      return OutOfRange("sequence {} has {} tokens, more than the model's context length {}", s,
                        seqs[s].size(), c.n_ctx_train);
    }
    rows[s].resize(seqs[s].size());
    for (size_t i = 0; i < rows[s].size(); ++i) rows[s][i] = static_cast<int32_t>(i);
    batch[s].tokens = seqs[s];
    batch[s].attention = c.NativeAttention();
    batch[s].logit_rows = rows[s];
  }
  Logits logits;
  BatcherSeat seat(batcher_.get());
  ForwardRunner& run = batcher_ ? static_cast<ForwardRunner&>(*batcher_) : *denoiser_;
  SCULPT_RETURN_IF_ERROR(run.Forward(batch, &logits));
  std::vector<std::vector<float>> out(seqs.size());
  const float* p = logits.data.data();
  for (size_t s = 0; s < seqs.size(); ++s) {
    const size_t n = seqs[s].size() * static_cast<size_t>(c.n_vocab);
    out[s].assign(p, p + n);
    p += n;
  }
  return out;
}

StatusOr<std::string> Engine::TextUntilEog(std::span<const int32_t> ids) const {
  if (!tokenizer_) return InvalidArgument("the model file has no tokenizer");
  // Through the streaming decoder, so the text is valid UTF-8 even when the tokens are not.
  StreamDecoder stream(*tokenizer_);
  std::string text;
  for (int32_t id : ids) {
    if (config().IsEog(id)) break;
    if (id < 0 || id >= tokenizer_->n_vocab()) return OutOfRange("token id {} is outside the vocabulary", id);
    text += stream.Push(id);
  }
  return text + stream.Finish();
}

void Engine::EnableConcurrentRequests(std::chrono::microseconds window) {
  if (!batcher_) batcher_ = std::make_unique<StepBatcher>(*denoiser_, window);
}

StatusOr<GenerateResponse> Engine::Generate(const GenerateRequest& req, const StepCallback& cb) {
  BatcherSeat seat(batcher_.get());
  GenerateResponse out;
  const ModelConfig& c = config();
  if (!req.prompt_tokens.empty()) {
    out.prompt_ids = req.prompt_tokens;
    for (int32_t id : out.prompt_ids) {
      if (id < 0 || id >= c.n_vocab) {
        return OutOfRange("prompt token {} is outside the vocabulary [0, {})", id, c.n_vocab);
      }
    }
  } else {
    if (req.prompt.empty()) return InvalidArgument("the prompt is empty; give -p, -f or --prompt-tokens");
    if (!tokenizer_) return InvalidArgument("the model file has no tokenizer; use --prompt-tokens");
    std::string text = req.prompt;
    if (req.chat) {
      SCULPT_ASSIGN_OR_RETURN(ChatTemplate t, ResolveChatTemplate(tokenizer_->vocab(), req.chat_template));
      const ChatMessage user{"user", req.prompt};
      text = FormatChat(t, {&user, 1}, /*add_assistant=*/true);
    } else if (!req.chat_template.empty()) {
      return InvalidArgument("--chat-template needs --chat");
    }
    out.prompt_ids = tokenizer_->Encode(text, /*add_special=*/true, /*parse_special=*/req.chat);
  }
  const int64_t total = static_cast<int64_t>(out.prompt_ids.size()) + req.options.n_generate;
  if (total > c.n_ctx_train) {
    return OutOfRange("prompt of {} tokens + -n {} = {} exceeds the model's context length {}; "
                      "shorten the prompt or lower -n", out.prompt_ids.size(), req.options.n_generate,
                      total, c.n_ctx_train);
  }
  if (c.causal) {
    out.diffusion = false;
    SCULPT_ASSIGN_OR_RETURN(out.result, RunAutoregressive(*denoiser_, out.prompt_ids, req.options, cb, batcher_.get()));
  } else {
    DiffusionRequest dr;
    dr.canvas = out.prompt_ids;
    for (int64_t i = 0; i < req.options.n_generate; ++i) {
      dr.editable.push_back(static_cast<int64_t>(dr.canvas.size()));
      dr.canvas.push_back(c.mask_id);
    }
    SCULPT_ASSIGN_OR_RETURN(out.result, RunRefinement(*denoiser_, dr, req.options, cb, batcher_.get()));
  }
  if (tokenizer_) {
    SCULPT_ASSIGN_OR_RETURN(out.text, TextUntilEog(out.result.ids));
  }
  return out;
}

namespace {
std::vector<int32_t> WithoutEog(const ModelConfig& c, std::span<const int32_t> ids) {
  std::vector<int32_t> out;
  for (int32_t id : ids)
    if (!c.IsEog(id)) out.push_back(id);
  return out;
}
}  // namespace

StatusOr<InfillResponse> Engine::InfillOnce(const InfillRequest& req,
                                            const std::vector<int64_t>& sizes,
                                            const StepCallback& cb) {
  const ModelConfig& c = config();
  DiffusionRequest dr;
  dr.is_generation = false;
  std::vector<std::pair<int64_t, int64_t>> holes;  // [begin, end) in editable-index space
  for (size_t s = 0; s < req.segments.size(); ++s) {
    const auto ids = tokenizer_->Encode(req.segments[s], /*add_special=*/s == 0);
    dr.canvas.insert(dr.canvas.end(), ids.begin(), ids.end());
    if (s + 1 == req.segments.size()) break;
    const int64_t begin = static_cast<int64_t>(dr.editable.size());
    for (int64_t i = 0; i < sizes[s]; ++i) {
      dr.editable.push_back(static_cast<int64_t>(dr.canvas.size()));
      dr.canvas.push_back(c.mask_id);
    }
    holes.emplace_back(begin, static_cast<int64_t>(dr.editable.size()));
  }
  if (static_cast<int64_t>(dr.canvas.size()) > c.n_ctx_train) {
    return OutOfRange("text of {} tokens with its holes exceeds the model's context length {}",
                      dr.canvas.size(), c.n_ctx_train);
  }
  GenerationOptions o = req.options;
  o.n_generate = static_cast<int64_t>(dr.editable.size());
  // Scheduled steps need blocks that divide the holes' length (one block otherwise); adaptive
  // rules (threshold, factor, EB) keep the block length, with a short last block.
  if (!o.Adaptive() && o.block_length > 0 && o.n_generate % o.block_length != 0) o.block_length = 0;
  InfillResponse out;
  SCULPT_ASSIGN_OR_RETURN(out.result, RunRefinement(*denoiser_, dr, o, cb, batcher_.get()));
  double log_conf = 0.0;
  for (double conf : out.result.confidence) log_conf += std::log(std::max(conf, 1e-300));
  out.mean_log_confidence = log_conf / static_cast<double>(out.result.confidence.size());
  out.hole_tokens = sizes;
  for (size_t h = 0; h < holes.size(); ++h) {
    const auto fill = WithoutEog(c, std::span(out.result.ids).subspan(
                                        holes[h].first, holes[h].second - holes[h].first));
    SCULPT_ASSIGN_OR_RETURN(std::string text, TextUntilEog(fill));
    out.fills.push_back(std::move(text));
  }
  for (size_t s = 0; s < req.segments.size(); ++s) {
    out.text += req.segments[s];
    if (s < out.fills.size()) out.text += out.fills[s];
  }
  return out;
}

// Fill-in-the-middle for causal models: <fim_prefix> prefix <fim_suffix> suffix <fim_middle>, then
// decode until an end-of-generation token (at most the hole size, 64 when auto).
StatusOr<InfillResponse> Engine::InfillAutoregressive(const InfillRequest& req, const StepCallback& cb) {
  const Vocab& v = tokenizer_->vocab();
  if (req.segments.size() != 2) {
    return InvalidArgument("an autoregressive model fills one hole at a time (got {})",
                           req.segments.size() - 1);
  }
  if (v.fim_pre < 0 || v.fim_suf < 0 || v.fim_mid < 0) {
    return InvalidArgument("this autoregressive model has no fill-in-the-middle tokens; infill needs "
                           "a diffusion model or a FIM-trained one");
  }
  std::vector<int32_t> prompt;
  if (v.add_bos && v.bos >= 0) prompt.push_back(v.bos);
  prompt.push_back(v.fim_pre);
  for (int32_t id : tokenizer_->Encode(req.segments[0])) prompt.push_back(id);
  prompt.push_back(v.fim_suf);
  for (int32_t id : tokenizer_->Encode(req.segments[1])) prompt.push_back(id);
  prompt.push_back(v.fim_mid);
  GenerationOptions o = req.options;
  o.n_generate = req.hole_tokens.empty() || req.hole_tokens[0] <= 0 ? 64 : req.hole_tokens[0];
  o.early_stop = true;
  InfillResponse out;
  out.diffusion = false;
  SCULPT_ASSIGN_OR_RETURN(out.result, RunAutoregressive(*denoiser_, prompt, o, cb, batcher_.get()));
  SCULPT_ASSIGN_OR_RETURN(std::string fill, TextUntilEog(out.result.ids));
  out.hole_tokens = {static_cast<int64_t>(out.result.ids.size())};
  out.text = req.segments[0] + fill + req.segments[1];
  out.fills = {std::move(fill)};
  return out;
}

StatusOr<InfillResponse> Engine::Infill(const InfillRequest& req, const StepCallback& cb) {
  BatcherSeat seat(batcher_.get());
  if (!tokenizer_) return InvalidArgument("the model file has no tokenizer");
  if (req.segments.size() < 2) return InvalidArgument("infill needs at least one hole");
  const size_t n_holes = req.segments.size() - 1;
  if (req.hole_tokens.size() != 1 && req.hole_tokens.size() != n_holes) {
    return InvalidArgument("{} hole sizes for {} holes", req.hole_tokens.size(), n_holes);
  }
  for (int64_t h : req.hole_tokens) {
    if (h < 0) return InvalidArgument("hole size must be a positive number of tokens or auto");
  }
  if (config().causal) return InfillAutoregressive(req, cb);
  std::vector<int64_t> sizes(n_holes);
  bool any_auto = false;
  for (size_t h = 0; h < n_holes; ++h) {
    sizes[h] = req.hole_tokens.size() == 1 ? req.hole_tokens[0] : req.hole_tokens[h];
    any_auto |= sizes[h] == 0;
  }
  if (!any_auto) return InfillOnce(req, sizes, cb);
  // Auto: every auto hole takes each candidate size in turn; the best mean log-confidence wins
  // (ties: the smaller size).
  std::optional<InfillResponse> best;
  int64_t tried = 0;
  for (int64_t candidate : kAutoHoleSizes) {
    std::vector<int64_t> trial = sizes;
    for (size_t h = 0; h < n_holes; ++h)
      if (sizes[h] == 0) trial[h] = candidate;
    auto r = InfillOnce(req, trial, nullptr);
    if (!r.ok()) {
      if (best) break;  // larger sizes no longer fit
      return r.status();
    }
    ++tried;
    if (!best || r->mean_log_confidence > best->mean_log_confidence) best = std::move(r).value();
  }
  if (cb) {  // replay the winner for the callback
    SCULPT_ASSIGN_OR_RETURN(InfillResponse replay, InfillOnce(req, best->hole_tokens, cb));
    best = std::move(replay);
  }
  best->sizes_tried = tried;
  return std::move(*best);
}

}  // namespace sculpt
