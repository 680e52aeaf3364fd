// See printable.hpp.
#include <genplug/host/printable.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace genplug::host {

namespace {

// Length of the valid UTF-8 sequence at s[i] (1..4), or 0 when it is not one (overlong, surrogate, > U+10FFFF).
size_t utf8_length(const std::string& s, size_t i, uint32_t& cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
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

}  // namespace

std::string printable(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  char buf[16];
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    const size_t n = utf8_length(text, i, cp);
    if (n == 0) {  // not UTF-8: the byte, escaped
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(text[i]));
      out += buf;
      ++i;
      continue;
    }
    if (cp == '\n') out += "\\n";
    else if (cp == '\t') out += "\\t";
    else if (cp == '\r') out += "\\r";
    else if (cp < 0x20 || cp == 0x7F) std::snprintf(buf, sizeof buf, "\\x%02x", cp), out += buf;
    else if ((cp >= 0x80 && cp < 0xA0) || reorders_or_breaks_lines(cp))
      std::snprintf(buf, sizeof buf, "\\u%04x", cp), out += buf;
    else out.append(text, i, n);
    i += n;
  }
  return out;
}

}  // namespace genplug::host
