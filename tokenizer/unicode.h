// Unicode helpers for the tokenizers: UTF-8 decoding as llama.cpp does it, codepoint classes,
// the GPT-2 byte <-> unicode mapping, and the per-codepoint normalizations of WordPiece.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sculpt::unicode {

inline constexpr uint32_t kReplacement = 0xFFFD;

// Length of the UTF-8 sequence a lead byte announces (1 for continuation/invalid bytes), as
// llama.cpp's unicode_len_utf8.
int SequenceLength(uint8_t lead);

// Decodes the codepoint at s[*pos] and advances *pos. Structural check only (lead byte and
// continuation bytes, like llama.cpp); on a malformed sequence returns U+FFFD and advances 1 byte.
uint32_t DecodeOne(std::string_view s, size_t* pos);
std::vector<uint32_t> Codepoints(std::string_view s);
void AppendUtf8(uint32_t cp, std::string* out);

// Length of the longest prefix of s that is complete, well-formed UTF-8 ending on a character
// boundary, and whether what follows is only an unfinished (not yet invalid) sequence.
size_t CompleteUtf8Prefix(std::string_view s, bool* tail_is_incomplete);
bool IsValidUtf8(std::string_view s);

// Coarse class of a codepoint, as llama.cpp's unicode flags use them.
enum class Category : uint8_t {
  kOther, kLetter, kNumber, kPunctuation, kSymbol, kAccentMark, kSeparator, kControl,
};
Category CategoryOf(uint32_t cp);
bool IsWhitespace(uint32_t cp);  // Unicode White_Space
uint32_t ToLower(uint32_t cp);   // simple lowercase mapping
uint32_t NfdFirst(uint32_t cp);  // first codepoint of the canonical decomposition (or cp)

// GPT-2's bytes_to_unicode: every byte maps to a printable codepoint; returned as UTF-8.
const std::array<std::string, 256>& ByteToUnicode();
// Inverse of ByteToUnicode for one codepoint; -1 when cp is not the image of a byte.
int UnicodeToByte(uint32_t cp);

}  // namespace sculpt::unicode
