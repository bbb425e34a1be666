#include "engine/engine.h"

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
  SCULPT_RETURN_IF_ERROR(denoiser_->Forward(batch, &logits));
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

StatusOr<GenerateResponse> Engine::Generate(const GenerateRequest& req, const StepCallback& cb) {
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
    SCULPT_ASSIGN_OR_RETURN(out.result, RunAutoregressive(*denoiser_, out.prompt_ids, req.options, cb));
  } else {
    DiffusionRequest dr;
    dr.canvas = out.prompt_ids;
    for (int64_t i = 0; i < req.options.n_generate; ++i) {
      dr.editable.push_back(static_cast<int64_t>(dr.canvas.size()));
      dr.canvas.push_back(c.mask_id);
    }
    SCULPT_ASSIGN_OR_RETURN(out.result, RunRefinement(*denoiser_, dr, req.options, cb));
  }
  if (tokenizer_) {
    SCULPT_ASSIGN_OR_RETURN(out.text, TextUntilEog(out.result.ids));
  }
  return out;
}

}  // namespace sculpt
