#include "tokenizer/vocab.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace sculpt {

namespace {

// llama.cpp's token types (tokenizer.ggml.token_type) -> attributes.
uint32_t AttrOfType(int64_t type) {
  switch (type) {
    case 1: return token_attr::kNormal;
    case 2: return token_attr::kUnknown;
    case 3: return token_attr::kControl;
    case 4: return token_attr::kUserDefined;
    case 5: return token_attr::kUnused;
    case 6: return token_attr::kByte;
    default: return token_attr::kUndefined;
  }
}

// Texts llama.cpp recognises when the id keys are absent; the token also becomes CONTROL.
constexpr std::array<std::string_view, 11> kEotTexts = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"};
constexpr std::array<std::string_view, 8> kFimPreTexts = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
    "<|code_prefix|>", "<|prefix|>"};
constexpr std::array<std::string_view, 8> kFimSufTexts = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
    "<|code_suffix|>", "<|suffix|>"};
constexpr std::array<std::string_view, 8> kFimMidTexts = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
    "<|code_middle|>", "<|middle|>"};
// Every token with one of these texts ends generation (and becomes CONTROL).
constexpr std::array<std::string_view, 16> kEogTexts = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
    "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>",
    "<|return|>", "<|call|>", "<eos>", "<｜end▁of▁sentence｜>"};

template <size_t N>
int Rank(const std::array<std::string_view, N>& list, std::string_view t) {
  auto it = std::find(list.begin(), list.end(), t);
  return it == list.end() ? -1 : static_cast<int>(it - list.begin());
}

// Picks the id for a role by text when its key is absent (lowest rank in the list wins, then the
// lowest id), and marks the chosen token CONTROL.
template <size_t N>
void DetectByText(Vocab& v, const std::array<std::string_view, N>& list, int32_t* id) {
  if (*id >= 0) return;
  int best = static_cast<int>(N);
  for (int32_t t = 0; t < v.n(); ++t) {
    const int r = Rank(list, v.text[t]);
    if (r >= 0 && r < best) {
      best = r;
      *id = t;
    }
  }
  if (*id >= 0) v.attr[*id] |= token_attr::kControl;
}

Status ReadId(const gguf::File& f, std::string_view key, const Vocab& v, int32_t* id) {
  const gguf::Value* val = f.Find(key);
  if (!val) return Status::Ok();
  const auto x = val->AsInt();
  if (!x) return DataLoss("metadata '{}' is not an integer", key);
  if (*x >= 0 && *x < v.n()) *id = static_cast<int32_t>(*x);  // out of range: keep the default
  return Status::Ok();
}

Status ReadFlag(const gguf::File& f, std::string_view key, bool* flag) {
  if (!f.Find(key)) return Status::Ok();
  SCULPT_ASSIGN_OR_RETURN(*flag, f.GetBool(key));
  return Status::Ok();
}

const gguf::Value* Array(const gguf::File& f, std::string_view key, gguf::ValueType elem) {
  const gguf::Value* v = f.Find(key);
  if (!v || v->type != gguf::ValueType::kArray || v->elem_type != elem) return nullptr;
  return v;
}

Status ReadTokens(const gguf::File& f, Vocab& v) {
  const gguf::Value* tokens = Array(f, "tokenizer.ggml.tokens", gguf::ValueType::kString);
  if (!tokens) return NotFound("missing tokenizer.ggml.tokens (an array of strings)");
  const size_t n = tokens->items.size();
  if (n == 0 || n > (1u << 24)) return DataLoss("tokenizer.ggml.tokens has {} entries", n);
  v.text.resize(n);
  v.score.assign(n, 0.0f);
  v.attr.assign(n, token_attr::kNormal);
  const gguf::Value* scores = f.Find("tokenizer.ggml.scores");
  if (scores && (scores->type != gguf::ValueType::kArray || scores->items.size() < n)) {
    return DataLoss("tokenizer.ggml.scores has fewer entries than tokenizer.ggml.tokens");
  }
  const gguf::Value* types = f.Find("tokenizer.ggml.token_type");
  if (types && (types->type != gguf::ValueType::kArray || types->items.size() < n)) {
    return DataLoss("tokenizer.ggml.token_type has fewer entries than tokenizer.ggml.tokens");
  }
  for (size_t i = 0; i < n; ++i) {
    std::string t(tokens->items[i].str);
    if (t.empty()) t = "[EMPTY_" + std::to_string(i) + "]";
    if (!v.id_of.emplace(t, static_cast<int32_t>(i)).second) {
      return DataLoss("duplicate token '{}' in the vocabulary (ids {} and {})", Printable(t),
                      v.id_of[t], i);
    }
    v.max_token_len = std::max(v.max_token_len, static_cast<int>(t.size()));
    v.text[i] = std::move(t);
    if (scores) v.score[i] = static_cast<float>(scores->items[i].AsDouble().value_or(0.0));
    if (types) v.attr[i] = AttrOfType(types->items[i].AsInt().value_or(0));
  }
  return Status::Ok();
}

void FinishSpecials(const gguf::File& f, Vocab& v) {
  DetectByText(v, kEotTexts, &v.eot);
  DetectByText(v, kFimPreTexts, &v.fim_pre);
  DetectByText(v, kFimSufTexts, &v.fim_suf);
  DetectByText(v, kFimMidTexts, &v.fim_mid);
  for (int32_t t = 0; t < v.n(); ++t) {
    if (v.attr[t] & token_attr::kControl && v.text[t].find("unused") != std::string::npos) {
      v.attr[t] |= token_attr::kUnused;
    }
    if (Rank(kEogTexts, v.text[t]) >= 0) {
      v.eog.push_back(t);
      v.attr[t] |= token_attr::kControl;
    }
  }
  for (int32_t id : {v.eos, v.eot, v.eom}) {
    if (id >= 0) v.eog.push_back(id);
  }
  std::sort(v.eog.begin(), v.eog.end());
  v.eog.erase(std::unique(v.eog.begin(), v.eog.end()), v.eog.end());

  for (int32_t t = 0; t < v.n(); ++t) {
    if (v.attr[t] & (token_attr::kControl | token_attr::kUserDefined | token_attr::kUnknown)) {
      v.special_tokens.push_back(t);
    }
  }
  std::stable_sort(v.special_tokens.begin(), v.special_tokens.end(), [&](int32_t a, int32_t b) {
    return v.text[a].size() > v.text[b].size();
  });

  // Per-model attributes llama.cpp sets by name (the GGUF has no field for them).
  std::string name;
  if (const gguf::Value* n = f.Find("general.name"); n && n->type == gguf::ValueType::kString) {
    name = std::string(n->str);
  }
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (int32_t t : v.special_tokens) v.attr[t] |= token_attr::kRstrip;
    if (int32_t t = v.Find("</s>"); t >= 0) v.attr[t] |= token_attr::kRstrip;
    for (const char* s : {"<unk>", "<s>", "<|endoftext|>"}) {
      if (int32_t t = v.Find(s); t >= 0) v.attr[t] &= ~token_attr::kRstrip;
    }
  }
  if (v.pre.find("jina-v2") != std::string::npos && v.Find("<mask>") >= 0) {
    v.attr[v.Find("<mask>")] |= token_attr::kLstrip;
  }
}

}  // namespace

int32_t Vocab::Find(std::string_view t) const {
  auto it = id_of.find(std::string(t));
  return it == id_of.end() ? -1 : it->second;
}

StatusOr<Vocab> LoadVocab(const gguf::File& f) {
  Vocab v;
  SCULPT_ASSIGN_OR_RETURN(std::string_view model, f.GetString("tokenizer.ggml.model"));
  v.model = std::string(model);
  if (const gguf::Value* p = f.Find("tokenizer.ggml.pre"); p && p->type == gguf::ValueType::kString) {
    v.pre = std::string(p->str);
  }
  if (const gguf::Value* a = f.Find("general.architecture"); a && a->type == gguf::ValueType::kString) {
    v.architecture = std::string(a->str);
  }
  if (const gguf::Value* c = f.Find("tokenizer.chat_template"); c && c->type == gguf::ValueType::kString) {
    v.chat_template = std::string(c->str);
  }
  SCULPT_RETURN_IF_ERROR(ReadTokens(f, v));

  // Defaults per model type, as llama.cpp.
  if (v.model == "llama") {
    v.type = VocabType::kSpm;
    v.bos = 1, v.eos = 2, v.unk = 0;
    v.add_space_prefix = true;
    v.add_bos = true;
  } else if (v.model == "bert") {
    v.type = VocabType::kWpm;
    v.bos = 101, v.unk = 100, v.sep = 102, v.pad = 0, v.mask = 103;
    v.add_bos = true;
    v.add_sep = true;
  } else if (v.model == "gpt2") {
    v.type = VocabType::kBpe;
    v.bos = 11, v.eos = 11;
    const gguf::Value* merges = Array(f, "tokenizer.ggml.merges", gguf::ValueType::kString);
    if (!merges) return NotFound("missing tokenizer.ggml.merges (an array of strings)");
    v.merges.reserve(merges->items.size());
    for (const gguf::Value& m : merges->items) v.merges.emplace_back(m.str);
    if (v.pre == "llama3" || v.pre == "llama-v3" || v.pre == "llama-bpe" || v.pre == "falcon3") {
      v.add_bos = true;
    }
  } else {
    return Unimplemented("tokenizer model '{}' is not supported (supported: gpt2, llama, bert)",
                         Printable(v.model));
  }
  for (int32_t* id : {&v.bos, &v.eos, &v.unk, &v.sep, &v.pad, &v.mask}) {
    if (*id >= v.n()) *id = -1;
  }
  SCULPT_RETURN_IF_ERROR(ReadFlag(f, "tokenizer.ggml.add_space_prefix", &v.add_space_prefix));
  const std::pair<const char*, int32_t*> ids[] = {
      {"tokenizer.ggml.bos_token_id", &v.bos},   {"tokenizer.ggml.eos_token_id", &v.eos},
      {"tokenizer.ggml.eot_token_id", &v.eot},   {"tokenizer.ggml.eom_token_id", &v.eom},
      {"tokenizer.ggml.unknown_token_id", &v.unk}, {"tokenizer.ggml.seperator_token_id", &v.sep},
      {"tokenizer.ggml.padding_token_id", &v.pad}, {"tokenizer.ggml.mask_token_id", &v.mask},
      {"tokenizer.ggml.fim_pre_token_id", &v.fim_pre}, {"tokenizer.ggml.fim_suf_token_id", &v.fim_suf},
      {"tokenizer.ggml.fim_mid_token_id", &v.fim_mid}};
  for (const auto& [key, id] : ids) SCULPT_RETURN_IF_ERROR(ReadId(f, key, v, id));
  SCULPT_RETURN_IF_ERROR(ReadFlag(f, "tokenizer.ggml.add_bos_token", &v.add_bos));
  SCULPT_RETURN_IF_ERROR(ReadFlag(f, "tokenizer.ggml.add_eos_token", &v.add_eos));
  SCULPT_RETURN_IF_ERROR(ReadFlag(f, "tokenizer.ggml.add_sep_token", &v.add_sep));
  FinishSpecials(f, v);
  return v;
}

}  // namespace sculpt
