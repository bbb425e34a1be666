// Tokenizer: text <-> ids for the three vocabulary families llama.cpp supports in GGUF:
// byte-level BPE ("gpt2"), SentencePiece-style BPE with scores and byte fallback ("llama") and
// WordPiece ("bert"). Token ids equal llama.cpp's for the same vocabulary and flags.
//
// Input that is not valid UTF-8: for BPE and WordPiece every malformed byte becomes U+FFFD before
// tokenization (as llama.cpp does); SentencePiece vocabularies encode malformed bytes through
// their <0xNN> byte tokens (a malformed lead byte takes the following bytes into its symbol, as in
// llama.cpp, so the bytes survive but a following space may come back as U+2581). Empty input gives no tokens (plus BOS/EOS when
// add_special is on and the vocabulary adds them).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "denoiser/gguf/gguf.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/vocab.h"

namespace sculpt {

class Tokenizer {
 public:
  static StatusOr<std::unique_ptr<Tokenizer>> FromGguf(const gguf::File& file);
  ~Tokenizer();

  const Vocab& vocab() const { return vocab_; }
  int32_t n_vocab() const { return vocab_.n(); }

  // add_special: BOS/EOS (or CLS/SEP) as the vocabulary asks. parse_special: control tokens written
  // as text ("<|im_start|>") become their ids; user-defined tokens always do, as in llama.cpp.
  std::vector<int32_t> Encode(std::string_view text, bool add_special = false,
                              bool parse_special = false) const;

  // The bytes of one token. Control and unknown tokens render as nothing unless `special`.
  const std::string& Piece(int32_t id, bool special = false) const;
  // Concatenated pieces; SentencePiece vocabularies drop the leading space their encoder adds.
  // No other clean-up: decoding is byte-exact. Ids outside the vocabulary are an error.
  StatusOr<std::string> Decode(std::span<const int32_t> ids, bool special = false) const;

 private:
  struct BpeTables;
  Tokenizer() = default;
  void EncodeFragment(std::string_view text, bool first_fragment_or_after_special,
                      std::vector<int32_t>* out) const;
  void EncodeSpm(std::string_view text, std::vector<int32_t>* out) const;
  void EncodeBpeWord(std::string_view word, std::vector<int32_t>* out) const;
  void EncodeBpeWordUncached(std::string_view word, std::vector<int32_t>* out) const;
  void EncodeWpm(std::string_view text, std::vector<int32_t>* out) const;
  int32_t ByteToken(uint8_t byte) const;

  Vocab vocab_;
  std::unique_ptr<PreTokenizer> pre_;     // BPE only
  std::unique_ptr<BpeTables> bpe_;        // BPE only
  std::vector<std::string> pieces_;       // [n] Piece(id, /*special=*/true)
  uint64_t instance_id_ = 0;              // keys the per-thread word cache
};

// Turns a stream of ids into text that is always valid UTF-8: bytes of a character split across
// tokens are held back until the character is complete; bytes that can never form a character
// come out as U+FFFD.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool special = false)
      : tokenizer_(tokenizer), special_(special) {}
  std::string Push(int32_t id);
  std::string Finish();  // flushes what is held back (an unfinished character becomes U+FFFD)

 private:
  std::string Drain(bool final);
  const Tokenizer& tokenizer_;
  bool special_;
  bool first_ = true;
  std::string pending_;
};

}  // namespace sculpt
