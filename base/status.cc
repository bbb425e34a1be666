#include "base/status.h"

namespace sculpt {

namespace {
void AppendEscaped(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 15];
}
}  // namespace

std::string Printable(std::string_view s, size_t max_len) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max_len; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7f) {
      AppendEscaped(out, c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > max_len) out += "...";
  return out;
}

Status MakeStatus(StatusCode code, std::string message) {
  std::string clean;
  clean.reserve(message.size());
  for (char ch : message) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 && c != '\t') {
      AppendEscaped(clean, c);
    } else {
      clean += ch;
    }
  }
  return Status(code, std::move(clean));
}

}  // namespace sculpt
