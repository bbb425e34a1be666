#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <functional>
#include <queue>

#include "tokenizer/unicode.h"

namespace sculpt {

// ---------------------------------------------------------------------------------------------
// Byte-level BPE (llama.cpp llm_tokenizer_bpe_session). Symbol texts are interned to ids so that
// a merge is one hash lookup on a pair of ints: vocabulary ids first, then "extended" ids for
// strings that occur in merges without being tokens. Two symbols have equal text iff equal id,
// which is what llama.cpp's string comparisons decide.
struct Tokenizer::BpeTables {
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  std::unordered_map<uint64_t, Merge> merges;   // (left id << 32 | right id) -> merge
  std::vector<std::string> extended_text;       // id - n_vocab -> text
  std::array<int32_t, 256> byte_symbol;         // symbol id of each byte's GPT-2 character, or -1
  std::array<int32_t, 256> single_byte_token;   // token whose text is exactly that raw byte, or -1

  static uint64_t Key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
};

namespace {

struct Symbol {
  int32_t id;  // interned symbol id, -1 for a character that can take part in no merge
  int prev, next;
  uint8_t byte;  // the raw byte (for id == -1)
  bool alive;
};

struct Bigram {
  int32_t rank;
  int left, right;
  int32_t left_id, right_id;
  bool operator<(const Bigram& o) const {  // priority_queue top = lowest rank, then leftmost
    return rank > o.rank || (rank == o.rank && left > o.left);
  }
};

}  // namespace

Tokenizer::~Tokenizer() = default;

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const gguf::File& file) {
  static std::atomic<uint64_t> next_instance{1};
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->instance_id_ = next_instance++;
  SCULPT_ASSIGN_OR_RETURN(t->vocab_, LoadVocab(file));
  Vocab& v = t->vocab_;
  if (v.type == VocabType::kBpe) {
    SCULPT_ASSIGN_OR_RETURN(PreTokenizer pre, PreTokenizer::ForName(v.pre));
    t->pre_ = std::make_unique<PreTokenizer>(std::move(pre));
    auto tables = std::make_unique<BpeTables>();
    std::unordered_map<std::string, int32_t> extended;
    auto intern = [&](const std::string& s) -> int32_t {
      if (auto it = v.id_of.find(s); it != v.id_of.end()) return it->second;
      auto [it, inserted] = extended.emplace(s, v.n() + static_cast<int32_t>(extended.size()));
      if (inserted) tables->extended_text.push_back(s);
      return it->second;
    };
    for (size_t rank = 0; rank < v.merges.size(); ++rank) {
      const std::string& m = v.merges[rank];
      const size_t sp = m.find(' ', 1);
      if (sp == std::string::npos) continue;
      const std::string a = m.substr(0, sp), b = m.substr(sp + 1);
      const int32_t ia = intern(a), ib = intern(b), iab = intern(a + b);
      tables->merges.emplace(BpeTables::Key(ia, ib),
                             BpeTables::Merge{static_cast<int32_t>(rank), iab});
    }
    const auto& bytes = unicode::ByteToUnicode();
    for (int b = 0; b < 256; ++b) {
      auto it = v.id_of.find(bytes[b]);
      auto ext = extended.find(bytes[b]);
      tables->byte_symbol[b] = it != v.id_of.end() ? it->second : ext != extended.end() ? ext->second : -1;
      tables->single_byte_token[b] = v.Find(std::string(1, static_cast<char>(b)));
    }
    t->bpe_ = std::move(tables);
  }
  t->pieces_.resize(v.text.size());
  for (int32_t id = 0; id < v.n(); ++id) {
    const std::string& text = v.text[id];
    const uint32_t a = v.attr[id];
    std::string piece;
    if (a & (token_attr::kUnknown | token_attr::kControl | token_attr::kUserDefined)) {
      piece = text;
    } else if (a & token_attr::kNormal) {
      if (v.type == VocabType::kBpe) {
        for (uint32_t cp : unicode::Codepoints(text)) {
          const int byte = unicode::UnicodeToByte(cp);
          if (byte >= 0) {
            piece.push_back(static_cast<char>(byte));
          } else {
            unicode::AppendUtf8(cp, &piece);  // not a byte image: keep the character
          }
        }
      } else {  // SentencePiece and WordPiece: U+2581 stands for a space
        piece = text;
        for (size_t p; (p = piece.find("\xE2\x96\x81")) != std::string::npos;) piece.replace(p, 3, " ");
      }
    } else if ((a & token_attr::kByte) && text.size() == 6 && text.compare(0, 3, "<0x") == 0) {
      piece.push_back(static_cast<char>(std::strtol(text.substr(3, 2).c_str(), nullptr, 16)));
    }
    t->pieces_[id] = std::move(piece);
  }
  return t;
}

int32_t Tokenizer::ByteToken(uint8_t byte) const {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const char name[7] = {'<', '0', 'x', kHex[byte >> 4], kHex[byte & 15], '>', 0};
  const int32_t id = vocab_.Find(name);
  return id >= 0 ? id : vocab_.Find(std::string(1, static_cast<char>(byte)));
}

void Tokenizer::EncodeBpeWordUncached(std::string_view word, std::vector<int32_t>* out) const {
  const BpeTables& t = *bpe_;
  const auto& bytes = unicode::ByteToUnicode();
  if (pre_->ignore_merges()) {
    std::string encoded;
    for (unsigned char c : word) encoded += bytes[c];
    if (const int32_t id = vocab_.Find(encoded); id >= 0) {
      out->push_back(id);
      return;
    }
  }
  const int n = static_cast<int>(word.size());
  std::vector<Symbol> sym(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto b = static_cast<uint8_t>(word[i]);
    sym[i] = Symbol{t.byte_symbol[b], i - 1, i + 1 < n ? i + 1 : -1, b, true};
  }
  std::priority_queue<Bigram> queue;
  auto add = [&](int l, int r) {
    if (l < 0 || r < 0 || sym[l].id < 0 || sym[r].id < 0) return;
    auto it = t.merges.find(BpeTables::Key(sym[l].id, sym[r].id));
    if (it != t.merges.end()) queue.push({it->second.rank, l, r, sym[l].id, sym[r].id});
  };
  for (int i = 1; i < n; ++i) add(i - 1, i);
  while (!queue.empty()) {
    const Bigram bg = queue.top();
    queue.pop();
    Symbol& l = sym[bg.left];
    Symbol& r = sym[bg.right];
    if (!l.alive || !r.alive || l.id != bg.left_id || r.id != bg.right_id) continue;  // outdated
    l.id = t.merges.at(BpeTables::Key(bg.left_id, bg.right_id)).result;
    r.alive = false;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = bg.left;
    add(l.prev, bg.left);
    add(bg.left, l.next);
  }
  for (int i = 0; i >= 0 && i < n; i = sym[i].next) {
    const Symbol& s = sym[i];
    if (s.id >= 0 && s.id < vocab_.n()) {
      out->push_back(s.id);
      continue;
    }
    // Not a token: llama.cpp emits the tokens of the single raw bytes of its (encoded) text.
    const std::string& text = s.id < 0 ? bytes[s.byte] : t.extended_text[s.id - vocab_.n()];
    for (unsigned char c : text) {
      if (t.single_byte_token[c] >= 0) out->push_back(t.single_byte_token[c]);
    }
  }
}

// Words repeat (identifiers, keywords, indentation), so each thread keeps the ids of the words it
// has seen, per tokenizer instance. The result is the same as without the cache.
void Tokenizer::EncodeBpeWord(std::string_view word, std::vector<int32_t>* out) const {
  constexpr size_t kMaxWordBytes = 64, kMaxEntries = 1 << 16;
  if (word.size() > kMaxWordBytes) return EncodeBpeWordUncached(word, out);
  struct Cache {
    uint64_t owner = 0;
    std::unordered_map<std::string, std::vector<int32_t>> ids;
  };
  thread_local Cache cache;
  if (cache.owner != instance_id_ || cache.ids.size() >= kMaxEntries) {
    cache.ids.clear();
    cache.owner = instance_id_;
  }
  auto [it, inserted] = cache.ids.try_emplace(std::string(word));
  if (inserted) EncodeBpeWordUncached(word, &it->second);
  out->insert(out->end(), it->second.begin(), it->second.end());
}

// SentencePiece BPE (llama.cpp llm_tokenizer_spm_session): merge the adjacent pair whose
// concatenation is the highest-scoring token (ties: leftmost), then resegment symbols that are
// not tokens through the merges that built them, down to byte tokens.
void Tokenizer::EncodeSpm(std::string_view text, std::vector<int32_t>* out) const {
  struct Sym {
    size_t begin, len;
    int prev, next;
  };
  struct Pair {
    float score;
    int left, right;
    size_t len;
    bool operator<(const Pair& o) const {
      return score < o.score || (score == o.score && left > o.left);
    }
  };
  std::vector<Sym> sym;
  for (size_t off = 0; off < text.size();) {
    const size_t len = std::min<size_t>(unicode::SequenceLength(static_cast<uint8_t>(text[off])),
                                        text.size() - off);
    const int idx = static_cast<int>(sym.size());
    sym.push_back({off, len, idx - 1, off + len == text.size() ? -1 : idx + 1});
    off += len;
  }
  std::priority_queue<Pair> queue;
  std::unordered_map<std::string, std::pair<int, int>> rev_merge;
  auto add = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    const std::string s(text.substr(sym[l].begin, sym[l].len + sym[r].len));
    const int32_t id = vocab_.Find(s);
    if (id < 0) return;
    queue.push({vocab_.score[id], l, r, s.size()});
    rev_merge[s] = {l, r};
  };
  for (int i = 1; i < static_cast<int>(sym.size()); ++i) add(i - 1, i);
  while (!queue.empty()) {
    const Pair p = queue.top();
    queue.pop();
    Sym& l = sym[p.left];
    Sym& r = sym[p.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != p.len) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = p.left;
    add(l.prev, p.left);
    add(p.left, l.next);
  }
  std::function<void(const Sym&)> resegment = [&](const Sym& s) {
    const std::string piece(text.substr(s.begin, s.len));
    if (const int32_t id = vocab_.Find(piece); id >= 0) {
      out->push_back(id);
      return;
    }
    auto it = rev_merge.find(piece);
    if (it == rev_merge.end()) {
      for (char c : piece) {
        const int32_t b = ByteToken(static_cast<uint8_t>(c));
        if (b >= 0) out->push_back(b);
      }
      return;
    }
    resegment(sym[it->second.first]);
    resegment(sym[it->second.second]);
  };
  for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) resegment(sym[i]);
}

// WordPiece (llama.cpp llm_tokenizer_wpm_session): lowercase, drop accents and control
// characters, split on whitespace and around punctuation and CJK ideographs, then greedy
// longest-match with a U+2581 word prefix; a word that cannot be matched becomes [UNK].
void Tokenizer::EncodeWpm(std::string_view text, std::vector<int32_t>* out) const {
  auto is_cjk = [](uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
  };
  std::vector<std::string> words(1);
  for (uint32_t raw : unicode::Codepoints(text)) {
    const uint32_t cp = unicode::NfdFirst(raw);
    if (unicode::IsWhitespace(cp)) {
      if (!words.back().empty()) words.emplace_back();
      continue;
    }
    const unicode::Category cat = unicode::CategoryOf(cp);
    if (cp == 0 || cp == unicode::kReplacement || cat == unicode::Category::kControl ||
        cat == unicode::Category::kAccentMark) {
      continue;
    }
    std::string s;
    unicode::AppendUtf8(unicode::ToLower(cp), &s);
    if (cat == unicode::Category::kPunctuation || (cp < 0x7F && cat == unicode::Category::kSymbol) ||
        is_cjk(cp)) {
      if (!words.back().empty()) words.emplace_back();
      words.back() = s;
      words.emplace_back();
    } else {
      words.back() += s;
    }
  }
  for (const std::string& w : words) {
    if (w.empty()) continue;
    const std::string word = "\xE2\x96\x81" + w;
    const int n = static_cast<int>(word.size());
    const size_t start = out->size();
    for (int i = 0; i < n; ++i) {
      bool match = false;
      for (int j = std::min(n, i + vocab_.max_token_len + 1); j > i; --j) {
        const int32_t id = vocab_.Find(std::string_view(word).substr(i, j - i));
        if (id >= 0) {
          out->push_back(id);
          match = true;
          i = j - 1;
          break;
        }
      }
      if (!match) {
        out->resize(start);
        break;
      }
    }
    if (out->size() == start && vocab_.unk >= 0) out->push_back(vocab_.unk);
  }
}

void Tokenizer::EncodeFragment(std::string_view text, bool prefix_space,
                               std::vector<int32_t>* out) const {
  switch (vocab_.type) {
    case VocabType::kSpm: {
      std::string s = prefix_space && vocab_.add_space_prefix ? " " : "";
      s += text;
      for (size_t p = 0; (p = s.find(' ', p)) != std::string::npos; p += 3) s.replace(p, 1, "\xE2\x96\x81");
      EncodeSpm(s, out);
      return;
    }
    case VocabType::kBpe: {
      std::string utf8;
      std::vector<std::pair<size_t, size_t>> words;
      pre_->Split(text, &utf8, &words);
      for (const auto& [b, e] : words) EncodeBpeWord(std::string_view(utf8).substr(b, e - b), out);
      return;
    }
    case VocabType::kWpm:
      EncodeWpm(text, out);
      return;
  }
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  // Split out special tokens written as text (llama.cpp tokenizer_st_partition): fragments are
  // either raw text or a token id.
  struct Fragment {
    int32_t token;  // -1 for text
    size_t begin, len;
  };
  std::vector<Fragment> frags;
  if (!text.empty()) frags.push_back({-1, 0, text.size()});
  for (int32_t special : vocab_.special_tokens) {
    const uint32_t a = vocab_.attr[special];
    if (!parse_special && (a & (token_attr::kControl | token_attr::kUnknown))) continue;
    const std::string& st = vocab_.text[special];
    std::vector<Fragment> next;
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t begin = f.begin, len = f.len;
      while (len > 0) {
        const size_t m = text.substr(0, begin + len).find(st, begin);
        if (m == std::string_view::npos) break;
        size_t left_len = m - begin;
        if (a & token_attr::kLstrip) {
          while (left_len > 0 && std::isspace(static_cast<unsigned char>(text[begin + left_len - 1]))) --left_len;
        }
        if (left_len > 0) next.push_back({-1, begin, left_len});
        next.push_back({special, 0, 0});
        size_t right = m + st.size(), right_len = begin + len - right;
        if (a & token_attr::kRstrip) {
          while (right_len > 0 && std::isspace(static_cast<unsigned char>(text[right]))) ++right, --right_len;
        }
        begin = right;
        len = right_len;
      }
      if (len > 0) next.push_back({-1, begin, len});
    }
    frags.swap(next);
  }

  std::vector<int32_t> out;
  const bool wpm = vocab_.type == VocabType::kWpm;
  if (add_special && (vocab_.add_bos || wpm) && vocab_.bos >= 0) out.push_back(vocab_.bos);
  bool prev_special = true;  // SentencePiece: prefix a space at the start and after a token
  for (const Fragment& f : frags) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
    } else {
      EncodeFragment(text.substr(f.begin, f.len), prev_special, &out);
      prev_special = false;
    }
  }
  if (add_special && wpm && vocab_.add_sep && vocab_.sep >= 0) out.push_back(vocab_.sep);
  if (add_special && !wpm && vocab_.add_eos && vocab_.eos >= 0) out.push_back(vocab_.eos);
  return out;
}

const std::string& Tokenizer::Piece(int32_t id, bool special) const {
  static const std::string kNothing;
  if (id < 0 || id >= vocab_.n()) return kNothing;
  if (!special && (vocab_.attr[id] & (token_attr::kControl | token_attr::kUnknown))) return kNothing;
  return pieces_[id];
}

StatusOr<std::string> Tokenizer::Decode(std::span<const int32_t> ids, bool special) const {
  std::string out;
  bool strip_space = vocab_.add_space_prefix;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_.n()) {
      return OutOfRange("token id {} is outside the vocabulary [0, {})", id, vocab_.n());
    }
    std::string_view p = Piece(id, special);
    if (strip_space && !p.empty() && p[0] == ' ') p.remove_prefix(1);
    strip_space = false;
    out += p;
  }
  return out;
}

std::string StreamDecoder::Drain(bool final) {
  std::string out;
  while (!pending_.empty()) {
    bool incomplete = false;
    const size_t ok = unicode::CompleteUtf8Prefix(pending_, &incomplete);
    out.append(pending_, 0, ok);
    pending_.erase(0, ok);
    if (pending_.empty() || (incomplete && !final)) break;
    out += "\xEF\xBF\xBD";  // a byte that cannot start or continue a character
    pending_.erase(0, 1);
  }
  return out;
}

std::string StreamDecoder::Push(int32_t id) {
  std::string_view p = tokenizer_.Piece(id, special_);
  if (first_ && tokenizer_.vocab().add_space_prefix && !p.empty() && p[0] == ' ') p.remove_prefix(1);
  first_ = false;
  pending_ += p;
  return Drain(/*final=*/false);
}

std::string StreamDecoder::Finish() { return Drain(/*final=*/true); }

}  // namespace sculpt
