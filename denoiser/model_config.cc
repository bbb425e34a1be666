#include "denoiser/model_config.h"

#include <algorithm>
#include <array>
#include <string_view>

namespace sculpt {

namespace {

// Token texts llama.cpp (llama-vocab.cpp) treats as end-of-turn, in the order Sculpt prefers them
// for eot_id when tokenizer.ggml.eot_token_id is absent.
constexpr std::array<std::string_view, 9> kEotTexts = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<EOT>",      "_<EOT>",     "<|eom_id|>", "<｜end▁of▁sentence｜>"};

StatusOr<int64_t> PositiveInt(const gguf::File& f, const std::string& key, int64_t max) {
  SCULPT_ASSIGN_OR_RETURN(int64_t v, f.GetInt(key));
  if (v <= 0 || v > max) return DataLoss("metadata '{}' = {} is out of range [1, {}]", key, v, max);
  return v;
}

StatusOr<int64_t> OptionalPositiveInt(const gguf::File& f, const std::string& key, int64_t dflt,
                                      int64_t max) {
  if (!f.Find(key)) return dflt;
  return PositiveInt(f, key, max);
}

// Reads an optional token id key; ids outside the vocabulary are an error.
Status ReadTokenId(const gguf::File& f, std::string_view key, int64_t n_vocab, int32_t* out) {
  const gguf::Value* v = f.Find(key);
  if (!v) return Status::Ok();
  auto id = v->AsInt();
  if (!id) return DataLoss("metadata '{}' = {} is not an integer", key, v->ToString());
  // Some converters write -1 or UINT32_MAX for "none".
  if (*id == -1 || *id == 0xFFFFFFFFll) return Status::Ok();
  if (*id < 0 || *id >= n_vocab) {
    return DataLoss("metadata '{}' = {} is outside the vocabulary of {} tokens", key, *id, n_vocab);
  }
  *out = static_cast<int32_t>(*id);
  return Status::Ok();
}

Status ReadSpecialIds(const gguf::File& f, ModelConfig& c) {
  SCULPT_RETURN_IF_ERROR(ReadTokenId(f, "tokenizer.ggml.bos_token_id", c.n_vocab, &c.bos_id));
  SCULPT_RETURN_IF_ERROR(ReadTokenId(f, "tokenizer.ggml.eos_token_id", c.n_vocab, &c.eos_id));
  SCULPT_RETURN_IF_ERROR(ReadTokenId(f, "tokenizer.ggml.eot_token_id", c.n_vocab, &c.eot_id));
  SCULPT_RETURN_IF_ERROR(ReadTokenId(f, "tokenizer.ggml.mask_token_id", c.n_vocab, &c.mask_id));
  SCULPT_RETURN_IF_ERROR(ReadTokenId(f, "tokenizer.ggml.padding_token_id", c.n_vocab, &c.pad_id));
  if (f.Find("tokenizer.ggml.add_bos_token")) {
    SCULPT_ASSIGN_OR_RETURN(c.add_bos, f.GetBool("tokenizer.ggml.add_bos_token"));
  }

  std::vector<int32_t> eog;
  if (c.eos_id >= 0) eog.push_back(c.eos_id);
  if (c.eot_id >= 0) eog.push_back(c.eot_id);
  const gguf::Value* tokens = f.Find("tokenizer.ggml.tokens");
  if (tokens && tokens->type == gguf::ValueType::kArray &&
      tokens->elem_type == gguf::ValueType::kString) {
    const auto& items = tokens->items;
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(items.size()), c.n_vocab);
    size_t best_rank = kEotTexts.size();
    for (int64_t id = 0; id < n; ++id) {
      auto it = std::find(kEotTexts.begin(), kEotTexts.end(), items[id].str);
      if (it == kEotTexts.end()) continue;
      eog.push_back(static_cast<int32_t>(id));
      const size_t rank = static_cast<size_t>(it - kEotTexts.begin());
      if (!f.Find("tokenizer.ggml.eot_token_id") && rank < best_rank && id != c.eos_id) {
        best_rank = rank;
        c.eot_id = static_cast<int32_t>(id);
      }
    }
    // Without a mask_token_id key, fall back to the conventional mask token texts.
    if (c.mask_id < 0 && c.diffusion) {
      for (int64_t id = 0; id < n; ++id) {
        if (items[id].str == "<|mdm_mask|>" || items[id].str == "<|mask|>") {
          c.mask_id = static_cast<int32_t>(id);
          break;
        }
      }
    }
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  c.eog_ids = std::move(eog);
  return Status::Ok();
}

}  // namespace

bool ModelConfig::IsEog(int32_t id) const {
  return std::binary_search(eog_ids.begin(), eog_ids.end(), id);
}

StatusOr<ModelConfig> ReadModelConfig(const gguf::File& f) {
  ModelConfig c;
  SCULPT_ASSIGN_OR_RETURN(std::string_view arch_name, f.GetString("general.architecture"));
  c.arch = FindArch(arch_name);
  if (!c.arch) {
    std::string known;
    for (const ArchTraits* a : Architectures()) known += (known.empty() ? "" : ", ") + std::string(a->name);
    return Unimplemented("architecture '{}' is not supported (supported: {})", Printable(arch_name), known);
  }
  const std::string p = std::string(arch_name) + ".";
  c.name = f.Find("general.name") && f.Find("general.name")->type == gguf::ValueType::kString
               ? std::string(f.Find("general.name")->str)
               : std::string(arch_name);

  constexpr int64_t kMaxDim = 1 << 20;
  SCULPT_ASSIGN_OR_RETURN(c.n_embd, PositiveInt(f, p + "embedding_length", kMaxDim));
  SCULPT_ASSIGN_OR_RETURN(c.n_layer, PositiveInt(f, p + "block_count", 4096));
  SCULPT_ASSIGN_OR_RETURN(c.n_head, PositiveInt(f, p + "attention.head_count", 4096));
  SCULPT_ASSIGN_OR_RETURN(c.n_head_kv,
                          OptionalPositiveInt(f, p + "attention.head_count_kv", c.n_head, 4096));
  SCULPT_ASSIGN_OR_RETURN(c.n_ff, PositiveInt(f, p + "feed_forward_length", kMaxDim));
  SCULPT_ASSIGN_OR_RETURN(c.n_ctx_train,
                          OptionalPositiveInt(f, p + "context_length", 4096, int64_t{1} << 31));
  if (c.n_head % c.n_head_kv != 0) {
    return DataLoss("head_count {} is not a multiple of head_count_kv {}", c.n_head, c.n_head_kv);
  }
  if (!f.Find(p + "attention.key_length") && c.n_embd % c.n_head != 0) {
    return DataLoss("embedding_length {} is not a multiple of head_count {}", c.n_embd, c.n_head);
  }
  SCULPT_ASSIGN_OR_RETURN(c.head_dim, OptionalPositiveInt(f, p + "attention.key_length",
                                                          c.n_embd / c.n_head, kMaxDim));
  SCULPT_ASSIGN_OR_RETURN(c.rope_dim,
                          OptionalPositiveInt(f, p + "rope.dimension_count", c.head_dim, kMaxDim));
  if (c.rope_dim > c.head_dim || c.rope_dim % 2 != 0) {
    return DataLoss("rope.dimension_count {} must be even and at most the head size {}", c.rope_dim,
                    c.head_dim);
  }
  if (f.Find(p + "rope.freq_base")) {
    SCULPT_ASSIGN_OR_RETURN(c.rope_base, f.GetDouble(p + "rope.freq_base"));
    if (!(c.rope_base > 1.0) || c.rope_base > 1e12) {
      return DataLoss("rope.freq_base = {} is out of range", c.rope_base);
    }
  }
  SCULPT_ASSIGN_OR_RETURN(double eps, f.GetDouble(p + "attention.layer_norm_rms_epsilon"));
  if (!(eps > 0.0) || eps > 1.0) {
    return DataLoss("attention.layer_norm_rms_epsilon = {} is out of range (0, 1]", eps);
  }
  c.rms_eps = static_cast<float>(eps);
  for (const char* unsupported : {"rope.scaling.type", "rope.scaling.factor"}) {
    if (const gguf::Value* v = f.Find(p + unsupported)) {
      const bool none = (v->type == gguf::ValueType::kString && v->str == "none") ||
                        (v->AsDouble() && *v->AsDouble() == 1.0);
      if (!none) return Unimplemented("RoPE scaling ({}{} = {}) is not supported yet", p,
                                      unsupported, v->ToString());
    }
  }

  c.causal = c.arch->causal;
  c.diffusion = c.arch->diffusion;
  c.shift_logits = c.arch->default_shift_logits;
  if (f.Find("diffusion.shift_logits")) {
    SCULPT_ASSIGN_OR_RETURN(c.shift_logits, f.GetBool("diffusion.shift_logits"));
  }

  const gguf::TensorInfo* embd = f.FindTensor("token_embd.weight");
  if (!embd) return NotFound("missing tensor 'token_embd.weight'");
  c.n_vocab = embd->ne[1];
  if (const gguf::Value* vs = f.Find(p + "vocab_size")) {
    if (vs->AsInt() != c.n_vocab) {
      return DataLoss("{}vocab_size = {} but token_embd.weight has {} rows", p, vs->ToString(),
                      c.n_vocab);
    }
  }
  SCULPT_RETURN_IF_ERROR(ReadSpecialIds(f, c));
  return c;
}

}  // namespace sculpt
