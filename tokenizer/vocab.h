// A tokenizer vocabulary read from GGUF metadata only (works on vocab-only files): token texts,
// scores and attributes, merges, special ids and flags, with llama.cpp's defaults and its
// text-based fix-ups of special tokens.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "denoiser/gguf/gguf.h"

namespace sculpt {

enum class VocabType { kSpm, kBpe, kWpm };

// Token attributes (bit flags), as llama.cpp's llama_token_attr.
namespace token_attr {
inline constexpr uint32_t kUndefined = 0;
inline constexpr uint32_t kUnknown = 1 << 0;
inline constexpr uint32_t kUnused = 1 << 1;
inline constexpr uint32_t kNormal = 1 << 2;
inline constexpr uint32_t kControl = 1 << 3;
inline constexpr uint32_t kUserDefined = 1 << 4;
inline constexpr uint32_t kByte = 1 << 5;
inline constexpr uint32_t kLstrip = 1 << 7;
inline constexpr uint32_t kRstrip = 1 << 8;
}  // namespace token_attr

struct Vocab {
  VocabType type = VocabType::kBpe;
  std::string model;  // tokenizer.ggml.model
  std::string pre;    // tokenizer.ggml.pre
  std::string architecture;
  std::string chat_template;  // tokenizer.chat_template, may be empty

  std::vector<std::string> text;  // [n]
  std::vector<float> score;       // [n]
  std::vector<uint32_t> attr;     // [n] token_attr bits
  std::unordered_map<std::string, int32_t> id_of;
  std::vector<std::string> merges;  // BPE only, in rank order
  int max_token_len = 0;

  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, sep = -1, pad = -1, mask = -1;
  int32_t fim_pre = -1, fim_suf = -1, fim_mid = -1;
  bool add_bos = false, add_eos = false, add_sep = false, add_space_prefix = false;
  std::vector<int32_t> eog;  // sorted
  // Control, user-defined and unknown tokens, longest text first: matched as whole strings.
  std::vector<int32_t> special_tokens;

  int32_t n() const { return static_cast<int32_t>(text.size()); }
  int32_t Find(std::string_view t) const;  // -1 when absent
  bool Has(int32_t id, uint32_t a) const { return id >= 0 && id < n() && (attr[id] & a); }
};

StatusOr<Vocab> LoadVocab(const gguf::File& file);

}  // namespace sculpt
