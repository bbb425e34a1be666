#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 32
#include <pcre2.h>

#include <array>

#include "tokenizer/unicode.h"

namespace sculpt {

namespace {

// The regex sets of llama.cpp (llama-vocab.cpp, llm_tokenizer_bpe). Written as raw strings: what
// you read is what the regex engine sees. Careful: the deepseek-llm letter class contains
// compatibility characters (U+1F7D, U+1FBE, U+1FD3, U+1FDB, U+2126, U+212A) that editors and tools
// which NFC-normalize text silently replace; tests/tokenizer_test.cc checks those codepoints.
constexpr std::string_view kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
constexpr std::string_view kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct Spec {
  std::vector<std::string_view> names;
  std::vector<std::string_view> regexes;
  bool ignore_merges = false;
  bool clean_spaces = true;
};

const std::vector<Spec>& Specs() {
  static const std::vector<Spec> specs = {
      {{"default", ""},
       {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"},
       {kLlama3}, /*ignore_merges=*/true},
      {{"dbrx", "smaug-bpe"}, {kLlama3}},
      {{"chatglm-bpe", "glm4"}, {kLlama3}},
      {{"deepseek-llm"},
       {"[\r\n]",
        R"(\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+)",
        R"(\s?[!-/:-~！-／：-～‘-‟　-。]+)", R"(\s+$)", "[一-龥ࠀ-一가-퟿]+", R"(\p{N}+)"},
       false, /*clean_spaces=*/false},
      {{"deepseek-coder"},
       {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", "[一-龥ࠀ-一가-퟿]+", R"(\p{N})"},
       false, /*clean_spaces=*/false},
      {{"deepseek-v3"},
       {R"(\p{N}{1,3})", "[一-龥぀-ゟ゠-ヿ]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
        "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},
       false, /*clean_spaces=*/false},
      {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}},
      {{"starcoder", "refact", "smollm", "codeshell", "exaone", "minerva-7b"},
       {R"(\p{N})", kGpt2}},
      {{"command-r"}, {R"(\p{N})", kGpt2}, false, /*clean_spaces=*/false},
      {{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de",
        "jina-v1-en", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "exaone4"},
       {kGpt2}},
      {{"trillion", "granite-docling"}, {kGpt2}, false, /*clean_spaces=*/false},
      {{"qwen2", "deepseek-r1-qwen", "megrez"}, {kQwen2}, false, /*clean_spaces=*/false},
      {{"stablelm2"}, {kQwen2}},
      {{"hunyuan"}, {kQwen2}, false, /*clean_spaces=*/false},
      {{"poro-chat"}, {" ?[^(\\s|.,!?…。，、।۔،)]+"}, false, /*clean_spaces=*/false},
      {{"bloom", "gpt3-finnish"}, {" ?[^(\\s|.,!?…。，、।۔،)]+"}},
  };
  return specs;
}

// llama.cpp's placeholders for collapsed non-ASCII codepoints and the ASCII members of each class.
constexpr uint32_t kOtherPlaceholder = 0xD0;
constexpr uint32_t kWhitespacePlaceholder = 0x0B;
struct ClassInfo {
  std::string_view pattern;  // \p{X}
  unicode::Category category;
  uint32_t placeholder;
  std::string_view ascii;  // regex class members below U+0080
};
constexpr std::array<ClassInfo, 5> kClasses = {{
    {R"(\p{N})", unicode::Category::kNumber, 0xD1, "0-9"},
    {R"(\p{L})", unicode::Category::kLetter, 0xD2, "A-Za-z"},
    {R"(\p{P})", unicode::Category::kPunctuation, 0xD3, R"(!-#%-*,-/:-;?-@\[-\]_\{\})"},
    {R"(\p{M})", unicode::Category::kAccentMark, 0xD4, ""},
    {R"(\p{S})", unicode::Category::kSymbol, 0xD5, R"(\$\+<->^`\|)"},
}};

bool UsesCategories(std::string_view re) {
  for (const ClassInfo& c : kClasses)
    if (re.find(c.pattern) != std::string_view::npos) return true;
  return false;
}

std::u32string ToU32(std::string_view s) {
  std::u32string out;
  for (uint32_t cp : unicode::Codepoints(s)) out.push_back(cp);
  return out;
}

// llama.cpp's rewrite of \p{X} into a class of its placeholder plus the ASCII members.
std::u32string CollapseRegex(std::string_view re) {
  std::u32string out;
  bool inside = false;
  for (size_t i = 0; i < re.size(); ++i) {
    if (re[i] == '[' && (i == 0 || re[i - 1] != '\\')) {
      out += U'[';
      inside = true;
      continue;
    }
    if (inside && re[i] == ']' && re[i - 1] != '\\') {
      out += U']';
      inside = false;
      continue;
    }
    bool replaced = false;
    for (const ClassInfo& c : kClasses) {
      if (re.compare(i, c.pattern.size(), c.pattern) == 0) {
        if (!inside) out += U'[';
        out += static_cast<char32_t>(c.placeholder);
        for (char ch : c.ascii) out += static_cast<char32_t>(ch);
        if (!inside) out += U']';
        i += c.pattern.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += static_cast<char32_t>(static_cast<unsigned char>(re[i]));
  }
  return out;
}

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  bool collapsed = false;
  ~Regex() { pcre2_code_free(code); }
};

std::string PreTokenizer::KnownNames() {
  std::string s;
  for (const Spec& spec : Specs())
    for (std::string_view n : spec.names)
      if (!n.empty()) s += (s.empty() ? "" : ", ") + std::string(n);
  return s;
}

StatusOr<PreTokenizer> PreTokenizer::ForName(std::string_view pre) {
  const Spec* spec = nullptr;
  for (const Spec& s : Specs())
    for (std::string_view n : s.names)
      if (n == pre) spec = &s;
  if (!spec) {
    return Unimplemented("pre-tokenizer '{}' is not supported (known: {})", Printable(pre),
                         KnownNames());
  }
  PreTokenizer p;
  p.ignore_merges_ = spec->ignore_merges;
  p.clean_spaces_ = spec->clean_spaces;
  for (std::string_view re : spec->regexes) {
    auto r = std::make_shared<Regex>();
    r->collapsed = UsesCategories(re);
    (r->collapsed ? p.any_collapsed_ : p.any_plain_) = true;
    const std::u32string pattern = r->collapsed ? CollapseRegex(re) : ToU32(re);
    int err = 0;
    PCRE2_SIZE err_off = 0;
    r->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                            PCRE2_DOLLAR_ENDONLY, &err, &err_off, nullptr);
    if (!r->code) {
      PCRE2_UCHAR32 msg[256];
      pcre2_get_error_message(err, msg, 256);
      std::string m;
      for (int i = 0; i < 256 && msg[i]; ++i) m.push_back(static_cast<char>(msg[i]));
      return Internal("pre-tokenizer '{}': regex does not compile at {}: {}", pre, err_off, m);
    }
    pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter on failure
    p.regexes_.push_back(std::move(r));
  }
  return p;
}

void PreTokenizer::Split(std::string_view text, std::string* utf8,
                         std::vector<std::pair<size_t, size_t>>* words) const {
  std::vector<uint32_t> cpts = unicode::Codepoints(text);
  const bool valid = unicode::IsValidUtf8(text);
  utf8->clear();
  if (valid) {
    utf8->assign(text);
  } else {
    for (uint32_t cp : cpts) unicode::AppendUtf8(cp, utf8);
  }

  // The subjects llama.cpp matches against (see the header comment). The codepoints are not
  // needed after this (words are cut from utf8), so the first subject reuses their storage.
  std::vector<uint32_t> plain;
  if (any_collapsed_ && any_plain_) plain = cpts;
  std::vector<uint32_t>& collapsed = cpts;
  if (!any_collapsed_) plain.swap(cpts);
  for (size_t i = 0; i < (any_collapsed_ ? collapsed.size() : plain.size()); ++i) {
    const uint32_t cp = any_collapsed_ ? collapsed[i] : plain[i];
    if (cp < 0x80) continue;
    const bool ws = unicode::IsWhitespace(cp);
    if (any_plain_ && ws) plain[i] = kWhitespacePlaceholder;
    if (!any_collapsed_) continue;
    uint32_t ph = kOtherPlaceholder;
    if (ws) {
      ph = kWhitespacePlaceholder;
    } else {
      const unicode::Category cat = unicode::CategoryOf(cp);
      for (const ClassInfo& c : kClasses)
        if (c.category == cat) ph = c.placeholder;
    }
    collapsed[i] = ph;
  }
  const size_t n_cpts = any_collapsed_ ? collapsed.size() : plain.size();

  std::vector<size_t> offsets = {n_cpts}, next;
  for (const auto& re : regexes_) {
    const uint32_t* subject = re->collapsed ? collapsed.data() : plain.data();
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(re->code, nullptr);
    next.clear();
    next.reserve(offsets.size() * 2 + 16);
    size_t start = 0;
    for (size_t len : offsets) {
      const PCRE2_SPTR chunk = reinterpret_cast<PCRE2_SPTR>(subject + start);
      size_t pos = 0, last = 0;
      while (pos < len) {
        const int rc = pcre2_match(re->code, chunk, len, pos, 0, md, nullptr);
        if (rc < 0) break;
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t b = ov[0], e = ov[1];
        if (e == b) {  // empty match: never produced by these regexes, but never loop on it
          pos = b + 1;
          continue;
        }
        if (b > last) next.push_back(b - last);
        next.push_back(e - b);
        last = pos = e;
      }
      if (last < len) next.push_back(len - last);
      start += len;
    }
    pcre2_match_data_free(md);
    offsets.swap(next);
  }

  // Codepoint counts -> byte spans of utf8 (well-formed there, so lead bytes give lengths).
  words->clear();
  words->reserve(offsets.size());
  size_t byte = 0;
  for (size_t len : offsets) {
    const size_t begin = byte;
    for (size_t k = 0; k < len; ++k) {
      byte += static_cast<size_t>(unicode::SequenceLength(static_cast<uint8_t>((*utf8)[byte])));
    }
    words->emplace_back(begin, byte);
  }
}

}  // namespace sculpt
