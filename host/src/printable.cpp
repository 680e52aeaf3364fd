// See printable.hpp.
#include <genplug/host/printable.hpp>

#include <algorithm>
#include <cstdint>

namespace genplug::host {

namespace {

// Length of the valid UTF-8 sequence at s[i] (1..4), or 0 when it is not one (overlong, surrogate, > U+10FFFF).
size_t utf8_length(const char* s, size_t size, size_t i, uint32_t& cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > size) return 0;
  cp = n == 1 ? c : c & (0xFF >> (n + 1));
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// Characters that reorder or break the lines around them without being seen (the bidirectional controls of
// "Trojan Source", CVE-2021-42574, and the Unicode line and paragraph separators): a name or prompt holding one
// can make a terminal show other text than the bytes that are there.
bool reorders_or_breaks_lines(uint32_t cp) {
  return cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

// "\x" and two hex digits, or "\u" and four.
size_t escape(uint32_t value, int digits, char* out) {
  static const char hex[] = "0123456789abcdef";
  out[0] = '\\';
  out[1] = digits == 2 ? 'x' : 'u';
  for (int d = 0; d < digits; ++d) out[2 + d] = hex[(value >> (4 * (digits - 1 - d))) & 0xf];
  return size_t(2 + digits);
}

}  // namespace

size_t printable_piece(const char* text, size_t size, size_t at, char* out, size_t& consumed) noexcept {
  uint32_t cp = 0;
  const size_t n = utf8_length(text, size, at, cp);
  consumed = n == 0 ? 1 : n;
  if (n == 0) return escape(static_cast<unsigned char>(text[at]), 2, out);  // not UTF-8: the byte, escaped
  const char named = cp == '\n' ? 'n' : cp == '\t' ? 't' : cp == '\r' ? 'r' : 0;
  if (named) return out[0] = '\\', out[1] = named, 2;
  if (cp < 0x20 || cp == 0x7F) return escape(cp, 2, out);
  if ((cp >= 0x80 && cp < 0xA0) || reorders_or_breaks_lines(cp)) return escape(cp, 4, out);
  for (size_t k = 0; k < n; ++k) out[k] = text[at + k];
  return n;
}

std::string printable(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  char piece[kMaxPrintablePiece];
  for (size_t i = 0, consumed = 0; i < text.size(); i += consumed)
    out.append(piece, printable_piece(text.data(), text.size(), i, piece, consumed));
  return out;
}

}  // namespace genplug::host
