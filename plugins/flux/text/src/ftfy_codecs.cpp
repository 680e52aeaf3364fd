#include "ftfy_codecs.hpp"

#include <genplug/flux/text/unicode_text.hpp>

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace genplug::flux::text::ftfy {
namespace {

using ftfy_data::Charmap;

// Sorted (code point, byte) pairs of a page's non-ASCII characters (and its byte 0x1A).
using ReverseMap = std::vector<std::pair<char32_t, unsigned char>>;

const ReverseMap& reverse_map(const Charmap& page) {
  static const std::vector<ReverseMap> maps = [] {
    std::vector<ReverseMap> all;
    for (std::size_t p = 0; p < ftfy_data::kCharmapsCount; ++p) {
      const Charmap& cm = ftfy_data::kCharmaps[p];
      ReverseMap m;
      for (int b = 0; b < 128; ++b) m.emplace_back(cm.high[b], static_cast<unsigned char>(0x80 + b));
      m.emplace_back(cm.sub, static_cast<unsigned char>(0x1A));
      std::sort(m.begin(), m.end());
      all.push_back(std::move(m));
    }
    return all;
  }();
  return maps[static_cast<std::size_t>(&page - ftfy_data::kCharmaps)];
}

// The byte of `c` in `page`, or -1.
int byte_of(char32_t c, const Charmap& page) {
  if (c < 0x80 && c != 0x1A) return static_cast<int>(c);
  const ReverseMap& m = reverse_map(page);
  auto it = std::lower_bound(m.begin(), m.end(), std::make_pair(c, static_cast<unsigned char>(0)));
  return (it != m.end() && it->first == c) ? it->second : -1;
}


bool in(unsigned char b, unsigned lo, unsigned hi) { return b >= lo && b <= hi; }

}  // namespace

bool is_ascii(std::u32string_view text) {
  return std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x80; });
}

bool encodable(std::u32string_view text, const Charmap& page) {
  return std::all_of(text.begin(), text.end(), [&](char32_t c) { return byte_of(c, page) >= 0; });
}

std::string encode(std::u32string_view text, const Charmap& page) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    const int b = byte_of(c, page);
    if (b < 0) throw std::logic_error("ftfy: character not encodable in " + std::string(page.name));
    out.push_back(static_cast<char>(b));
  }
  return out;
}

const Charmap& charmap(std::string_view name) {
  for (std::size_t p = 0; p < ftfy_data::kCharmapsCount; ++p)
    if (name == ftfy_data::kCharmaps[p].name) return ftfy_data::kCharmaps[p];
  throw std::logic_error("ftfy: no code page " + std::string(name));
}

std::optional<std::u32string> decode_windows_1252_strict(std::string_view bytes) {
  // Python's cp1252 is the sloppy page without its fill-ins: 0x81 0x8D 0x8F 0x90 0x9D are errors, 0x1A is U+001A.
  const Charmap& page = charmap("sloppy-windows-1252");
  std::u32string out;
  for (char ch : bytes) {
    const auto b = static_cast<unsigned char>(ch);
    if (b == 0x81 || b == 0x8D || b == 0x8F || b == 0x90 || b == 0x9D) return std::nullopt;
    out.push_back(b >= 0x80 ? page.high[b - 0x80] : b);
  }
  return out;
}

// utf-8-variants: strict UTF-8, plus C0 80 -> U+0000 and the CESU-8 pair ED A0-AF 80-BF ED B0-BF 80-BF -> one
// supplementary character. An ftfy quirk reproduced: its patterns accept `$` for a continuation byte, and
// Python's `$` matches before a final "\n" — so C0 followed by a final "\n" reads as U+0000, and a CESU-8 pair
// whose sixth and last byte is "\n" reads as a character with 0x0A in its low bits; both swallow the newline.
std::optional<std::u32string> decode_utf8_variants(std::string_view bytes) {
  std::u32string out;
  out.reserve(bytes.size());
  const std::size_t n = bytes.size();
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (std::size_t i = 0; i < n;) {
    if (at(i) == 0xC0 && i + 1 < n && (at(i + 1) == 0x80 || (i + 2 == n && at(i + 1) == '\n'))) {
      out.push_back(0);
      i += 2;
      continue;
    }
    if (at(i) == 0xED && i + 6 <= n && in(at(i + 1), 0xA0, 0xAF) && in(at(i + 2), 0x80, 0xBF) && at(i + 3) == 0xED &&
        in(at(i + 4), 0xB0, 0xBF) && (in(at(i + 5), 0x80, 0xBF) || (i + 6 == n && at(i + 5) == '\n'))) {
      out.push_back(0x10000 + ((at(i + 1) & 0x0Fu) << 16) + ((at(i + 2) & 0x3Fu) << 10) + ((at(i + 4) & 0x0Fu) << 6) +
                    (at(i + 5) & 0x3Fu));
      i += 6;
      continue;
    }
    char32_t cp;
    const std::size_t len = utf8_sequence_at(bytes, i, cp);
    if (len == 0) return std::nullopt;
    out.push_back(cp);
    i += len;
  }
  return out;
}

}  // namespace genplug::flux::text::ftfy
