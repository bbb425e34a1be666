#include "tokenizer/unicode.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

namespace sculpt::unicode {

int SequenceLength(uint8_t lead) {
  static constexpr int kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

uint32_t DecodeOne(std::string_view s, size_t* pos) {
  const auto at = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const size_t p = *pos;
  const uint8_t b0 = at(p);
  auto cont = [&](size_t i) { return p + i < s.size() && (at(p + i) & 0xC0) == 0x80; };
  if (!(b0 & 0x80)) {
    *pos += 1;
    return b0;
  }
  if ((b0 & 0x40) && !(b0 & 0x20) && cont(1)) {
    *pos += 2;
    return ((b0 & 0x1Fu) << 6) | (at(p + 1) & 0x3Fu);
  }
  if ((b0 & 0x60) == 0x60 && !(b0 & 0x10) && cont(1) && cont(2)) {
    *pos += 3;
    return ((b0 & 0x0Fu) << 12) | ((at(p + 1) & 0x3Fu) << 6) | (at(p + 2) & 0x3Fu);
  }
  if ((b0 & 0x70) == 0x70 && !(b0 & 0x08) && cont(1) && cont(2) && cont(3)) {
    *pos += 4;
    return ((b0 & 0x07u) << 18) | ((at(p + 1) & 0x3Fu) << 12) | ((at(p + 2) & 0x3Fu) << 6) |
           (at(p + 3) & 0x3Fu);
  }
  *pos += 1;
  return kReplacement;
}

std::vector<uint32_t> Codepoints(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) out.push_back(DecodeOne(s, &pos));
  return out;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | ((cp >> 18) & 0x07)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {

// Well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). Returns the sequence
// length at s[i], 0 if malformed, -1 if it is a valid but unfinished prefix at the end of s.
int WellFormedAt(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const uint8_t b0 = b(0);
  if (b0 < 0x80) return 1;
  int n;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (int k = 1; k < n; ++k) {
    if (i + k >= s.size()) return -1;
    const uint8_t c = b(k);
    if (k == 1 ? (c < lo || c > hi) : (c & 0xC0) != 0x80) return 0;
  }
  return n;
}

}  // namespace

size_t CompleteUtf8Prefix(std::string_view s, bool* tail_is_incomplete) {
  size_t i = 0;
  *tail_is_incomplete = false;
  while (i < s.size()) {
    const int n = WellFormedAt(s, i);
    if (n <= 0) {
      *tail_is_incomplete = n < 0;
      break;
    }
    i += static_cast<size_t>(n);
  }
  return i;
}

bool IsValidUtf8(std::string_view s) {
  bool incomplete;
  return CompleteUtf8Prefix(s, &incomplete) == s.size();
}

bool IsWhitespace(uint32_t cp) { return u_isUWhiteSpace(static_cast<UChar32>(cp)); }

Category CategoryOf(uint32_t cp) {
  switch (u_charType(static_cast<UChar32>(cp))) {
    case U_UPPERCASE_LETTER: case U_LOWERCASE_LETTER: case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER: case U_OTHER_LETTER:
      return Category::kLetter;
    case U_DECIMAL_DIGIT_NUMBER: case U_LETTER_NUMBER: case U_OTHER_NUMBER:
      return Category::kNumber;
    case U_CONNECTOR_PUNCTUATION: case U_DASH_PUNCTUATION: case U_START_PUNCTUATION:
    case U_END_PUNCTUATION: case U_INITIAL_PUNCTUATION: case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
      return Category::kPunctuation;
    case U_MATH_SYMBOL: case U_CURRENCY_SYMBOL: case U_MODIFIER_SYMBOL: case U_OTHER_SYMBOL:
      return Category::kSymbol;
    case U_NON_SPACING_MARK: case U_ENCLOSING_MARK: case U_COMBINING_SPACING_MARK:
      return Category::kAccentMark;
    case U_SPACE_SEPARATOR: case U_LINE_SEPARATOR: case U_PARAGRAPH_SEPARATOR:
      return Category::kSeparator;
    case U_CONTROL_CHAR: case U_FORMAT_CHAR: case U_PRIVATE_USE_CHAR: case U_SURROGATE:
      return Category::kControl;
    default:
      return Category::kOther;
  }
}

uint32_t ToLower(uint32_t cp) { return static_cast<uint32_t>(u_tolower(static_cast<UChar32>(cp))); }

uint32_t NfdFirst(uint32_t cp) {
  UErrorCode err = U_ZERO_ERROR;
  static const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(err);
  if (nfd == nullptr || cp > 0x10FFFF) return cp;
  icu::UnicodeString d;
  if (!nfd->getDecomposition(static_cast<UChar32>(cp), d) || d.isEmpty()) return cp;
  return static_cast<uint32_t>(d.char32At(0));
}

namespace {
struct ByteMaps {
  std::array<std::string, 256> to_unicode;
  std::array<int, 512> to_byte;  // images are all < 512
  ByteMaps() {
    to_byte.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const uint32_t cp = printable ? static_cast<uint32_t>(b) : 256u + static_cast<uint32_t>(n++);
      AppendUtf8(cp, &to_unicode[b]);
      to_byte[cp] = b;
    }
  }
};
const ByteMaps& Maps() {
  static const ByteMaps maps;
  return maps;
}
}  // namespace

const std::array<std::string, 256>& ByteToUnicode() { return Maps().to_unicode; }

int UnicodeToByte(uint32_t cp) { return cp < 512 ? Maps().to_byte[cp] : -1; }

}  // namespace sculpt::unicode
