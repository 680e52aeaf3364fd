#include <genplug/flux/text/unicode_text.hpp>

#include <algorithm>
#include <stdexcept>

#include "unicode_tables.hpp"

namespace genplug::flux::text {
namespace {

// Length of the UTF-8 sequence starting at bytes[i] and its code point, or 0 when invalid.
std::size_t decode_one(std::string_view bytes, std::size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(bytes[i]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t len;
  char32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > bytes.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(bytes[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool in_ranges(const unicode_data::CodepointRange* ranges, std::size_t count, char32_t c) {
  const auto* end = ranges + count;
  const auto* it = std::upper_bound(ranges, end, c, [](char32_t v, const auto& r) { return v < r.first; });
  return it != ranges && c <= (it - 1)->last;
}

}  // namespace

bool is_valid_utf8(std::string_view bytes, std::size_t* error_offset) {
  char32_t cp;
  for (std::size_t i = 0; i < bytes.size();) {
    const std::size_t n = decode_one(bytes, i, cp);
    if (n == 0) {
      if (error_offset) *error_offset = i;
      return false;
    }
    i += n;
  }
  return true;
}

std::u32string decode_utf8(std::string_view bytes, const std::string& what) {
  std::u32string out;
  out.reserve(bytes.size());
  char32_t cp;
  for (std::size_t i = 0; i < bytes.size();) {
    const std::size_t n = decode_one(bytes, i, cp);
    if (n == 0)
      throw std::invalid_argument(what + " is not valid UTF-8 (invalid byte sequence at byte offset " +
                                  std::to_string(i) + ")");
    out.push_back(cp);
    i += n;
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

bool is_letter(char32_t c) { return in_ranges(unicode_data::kLetters, unicode_data::kLettersCount, c); }
bool is_number(char32_t c) { return in_ranges(unicode_data::kNumbers, unicode_data::kNumbersCount, c); }
bool is_whitespace(char32_t c) { return in_ranges(unicode_data::kWhitespace, unicode_data::kWhitespaceCount, c); }

std::u32string to_lower(std::u32string_view text) {
  using unicode_data::kLower;
  const auto* end = kLower + unicode_data::kLowerCount;
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c >= 'A' && c <= 'Z') {
      out.push_back(c + 32);
      continue;
    }
    if (c < 0x80) {
      out.push_back(c);
      continue;
    }
    const auto* it = std::lower_bound(kLower, end, c, [](const auto& m, char32_t v) { return m.codepoint < v; });
    if (it != end && it->codepoint == c)
      out += decode_utf8(it->utf8, "lower-case table");
    else
      out.push_back(c);
  }
  return out;
}

}  // namespace genplug::flux::text
