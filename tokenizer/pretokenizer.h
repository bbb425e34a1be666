// Pre-tokenizers of byte-level BPE vocabularies, chosen by tokenizer.ggml.pre. Each is a list of
// regexes applied in turn, every one splitting the pieces the previous ones produced (matches and
// the gaps between them both become pieces), as in llama.cpp's unicode_regex_split.
//
// llama.cpp runs std::regex over a "collapsed" text in which every non-ASCII codepoint is replaced
// by a placeholder for its class (letter, number, punctuation, symbol, mark, whitespace, other),
// with \p{..} rewritten to match those placeholders; regexes without \p{..} run over the
// codepoints with non-ASCII whitespace replaced by U+000B. Sculpt performs the same
// transformations and matches with PCRE2 on 32-bit code units, so its pieces are the same.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace sculpt {

class PreTokenizer {
 public:
  // pre = tokenizer.ggml.pre ("" or "default" for the default set).
  static StatusOr<PreTokenizer> ForName(std::string_view pre);
  // Names accepted by ForName, for error messages and documentation.
  static std::string KnownNames();

  // Whole-word lookup before merging (LLaMA-3 style vocabularies).
  bool ignore_merges() const { return ignore_merges_; }
  // Whether llama.cpp would clean up spaces around punctuation when detokenizing.
  bool clean_spaces() const { return clean_spaces_; }

  // Splits `text` into words, returned as byte spans [begin, end) of `utf8`: the text itself when it
  // is valid UTF-8, otherwise a copy in which every malformed byte became U+FFFD.
  void Split(std::string_view text, std::string* utf8,
             std::vector<std::pair<size_t, size_t>>* words) const;

 private:
  struct Regex;
  std::vector<std::shared_ptr<const Regex>> regexes_;
  bool any_collapsed_ = false, any_plain_ = false;
  bool ignore_merges_ = false;
  bool clean_spaces_ = true;
};

}  // namespace sculpt
