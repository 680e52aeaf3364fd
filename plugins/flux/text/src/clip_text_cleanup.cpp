#include <genplug/flux/text/clip_text_cleanup.hpp>

#include <algorithm>
#include <cstring>

#include <genplug/flux/text/unicode_text.hpp>

#include "ftfy_encoding.hpp"
#include "unicode_tables.hpp"

namespace genplug::flux::text {
namespace {

using unicode_data::CodepointMapping;
using unicode_data::NamedReplacement;

const char* find_mapping(const CodepointMapping* table, std::size_t count, char32_t c) {
  const auto* end = table + count;
  const auto* it = std::lower_bound(table, end, c, [](const auto& m, char32_t v) { return m.codepoint < v; });
  return (it != end && it->codepoint == c) ? it->utf8 : nullptr;
}

const char* find_named(const NamedReplacement* table, std::size_t count, const std::string& name) {
  const auto* end = table + count;
  const auto* it = std::lower_bound(table, end, name,
                                    [](const auto& m, const std::string& v) { return std::strcmp(m.name, v.c_str()) < 0; });
  return (it != end && name == it->name) ? it->utf8 : nullptr;
}

bool is_ascii_alnum(char32_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char32_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// html.unescape of a numeric reference (digits already validated); `hex` selects base 16.
std::u32string numeric_charref(std::u32string_view digits, bool hex) {
  unsigned long long num = 0;
  for (char32_t d : digits) {
    const unsigned v = d <= '9' ? d - '0' : (d | 0x20) - 'a' + 10;
    num = num * (hex ? 16 : 10) + v;
    if (num > 0x110000) num = 0x110000;  // saturate: anything above U+10FFFF behaves the same
  }
  if (const char* r = find_mapping(unicode_data::kHtmlInvalidCharrefs, unicode_data::kHtmlInvalidCharrefsCount,
                                   static_cast<char32_t>(num)))
    return decode_utf8(r);
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return U"\uFFFD";
  const auto* inv = unicode_data::kHtmlInvalidCodepoints;
  if (std::binary_search(inv, inv + unicode_data::kHtmlInvalidCodepointsCount, static_cast<char32_t>(num)))
    return U"";
  return std::u32string(1, static_cast<char32_t>(num));
}

// ftfy unescape_html: `&#?[0-9A-Za-z]{1,24};` replaced by its entity (also upper-cased lower-case names).
std::u32string ftfy_unescape_html(std::u32string_view text) {
  std::u32string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '&') {
      std::size_t j = i + 1;
      if (j < text.size() && text[j] == '#') ++j;
      const std::size_t body = j;
      while (j < text.size() && j - body < 24 && is_ascii_alnum(text[j])) ++j;
      if (j > body && j < text.size() && text[j] == ';') {
        const std::u32string_view entity = text.substr(i, j + 1 - i);
        std::u32string replacement;
        bool replaced = false;
        if (text[i + 1] != '#') {
          const std::string name = encode_utf8(entity.substr(1));
          if (const char* r = find_named(unicode_data::kHtml5Entities, unicode_data::kHtml5EntitiesCount, name)) {
            replacement = decode_utf8(r), replaced = true;
          } else if (const char* u = find_named(unicode_data::kFtfyUpperEntities,
                                                unicode_data::kFtfyUpperEntitiesCount, name)) {
            replacement = decode_utf8(u), replaced = true;
          }
        } else {
          const std::u32string unescaped = html_unescape(entity);
          if (unescaped.find(U';') == std::u32string::npos) replacement = unescaped, replaced = true;
        }
        if (replaced) {
          out += replacement;
          i = j + 1;
          continue;
        }
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

// ftfy remove_terminal_escapes: \x1b\[(\d|;)*[A-Za-z], \d being any decimal digit (Nd), as in Python's re.
std::u32string remove_terminal_escapes(std::u32string_view text) {
  std::u32string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == 0x1B && i + 1 < text.size() && text[i + 1] == '[') {
      std::size_t j = i + 2;
      while (j < text.size() && (is_decimal_digit(text[j]) || text[j] == ';')) ++j;
      if (j < text.size() && ((text[j] | 0x20) >= 'a' && (text[j] | 0x20) <= 'z')) {
        i = j + 1;
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

// ftfy remove_control_chars (chardata.CONTROL_CHARS): C0 controls but \t \n \f \r, DEL, the deprecated Arabic
// format controls U+206A-U+206F, the BOM U+FEFF and the interlinear annotation / object replacement characters
// U+FFF9-U+FFFC. (Tag characters and musical format controls stay: ftfy 6.3.1 keeps them.)
bool is_ftfy_control(char32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
         c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

// ftfy fix_character_width: U+3000 -> space, U+FF01-U+FFEF -> their NFKC form where that differs.
bool width_fold(char32_t c, std::u32string& out) {
  if (c == 0x3000) {
    out.push_back(' ');
    return true;
  }
  if (c < 0xFF01 || c > 0xFFEF) return false;
  const std::u32string alt = nfkc(std::u32string_view(&c, 1));
  if (alt.size() == 1 && alt[0] == c) return false;
  out += alt;
  return true;
}

// ftfy fix_latin_ligatures (ftfy 6 chardata.LIGATURES).
const char32_t* ligature(char32_t c) {
  switch (c) {
    case 0x0132: return U"IJ";
    case 0x0133: return U"ij";
    case 0x0149: return U"\u02BCn";
    case 0x01F1: return U"DZ";
    case 0x01F2: return U"Dz";
    case 0x01F3: return U"dz";
    case 0x01C4: return U"D\u017D";
    case 0x01C5: return U"D\u017E";
    case 0x01C6: return U"d\u017E";
    case 0x01C7: return U"LJ";
    case 0x01C8: return U"Lj";
    case 0x01C9: return U"lj";
    case 0x01CA: return U"NJ";
    case 0x01CB: return U"Nj";
    case 0x01CC: return U"nj";
    case 0xFB00: return U"ff";
    case 0xFB01: return U"fi";
    case 0xFB02: return U"fl";
    case 0xFB03: return U"ffi";
    case 0xFB04: return U"ffl";
    case 0xFB05: return U"\u017Ft";
    case 0xFB06: return U"st";
    default: return nullptr;
  }
}

// One pass of the character-level fixers, in ftfy's order: c1 controls, ligatures, width, quotes, line breaks.
// Per character, the first three compose (none produces a character another one maps).
std::u32string fix_characters(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c >= 0x80 && c <= 0x9F) {
      out += ftfy::fix_c1_controls(std::u32string_view(&c, 1));
    } else if (const char32_t* lig = ligature(c)) {
      out += lig;
    } else if (!width_fold(c, out)) {
      out.push_back(c);
    }
  }
  // uncurl_quotes and fix_line_breaks run after the substitutions above (a width fix can produce neither).
  std::u32string fixed;
  fixed.reserve(out.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const char32_t c = out[i];
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) {
      fixed.push_back('\'');
    } else if (c >= 0x201C && c <= 0x201F) {
      fixed.push_back('"');
    } else if (c == '\r') {
      fixed.push_back('\n');
      if (i + 1 < out.size() && out[i + 1] == '\n') ++i;
    } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
      fixed.push_back('\n');
    } else {
      fixed.push_back(c);
    }
  }
  return fixed;
}

std::u32string strip(std::u32string_view text) {
  std::size_t b = 0, e = text.size();
  while (b < e && is_whitespace(text[b])) ++b;
  while (e > b && is_whitespace(text[e - 1])) --e;
  return std::u32string(text.substr(b, e - b));
}

}  // namespace

std::u32string html_unescape(std::u32string_view text) {
  if (text.find(U'&') == std::u32string_view::npos) return std::u32string(text);
  std::u32string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] != '&') {
      out.push_back(text[i++]);
      continue;
    }
    const std::size_t start = i + 1;
    // Numeric: #[0-9]+;?  or  #[xX][0-9a-fA-F]+;?
    if (start < text.size() && text[start] == '#') {
      const bool hex = start + 1 < text.size() && (text[start + 1] == 'x' || text[start + 1] == 'X');
      std::size_t j = start + (hex ? 2 : 1);
      const std::size_t digits = j;
      while (j < text.size() && (hex ? is_hex(text[j]) : (text[j] >= '0' && text[j] <= '9'))) ++j;
      if (j > digits) {
        out += numeric_charref(text.substr(digits, j - digits), hex);
        i = (j < text.size() && text[j] == ';') ? j + 1 : j;
        continue;
      }
      out.push_back(text[i++]);
      continue;
    }
    // Named: [^\t\n\f <&#;]{1,32};?
    std::size_t j = start;
    auto name_char = [](char32_t c) {
      return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' && c != ';';
    };
    while (j < text.size() && j - start < 32 && name_char(text[j])) ++j;
    if (j == start) {
      out.push_back(text[i++]);
      continue;
    }
    const std::size_t end = (j < text.size() && text[j] == ';') ? j + 1 : j;
    const std::u32string_view ref = text.substr(start, end - start);
    const std::string name = encode_utf8(ref);
    if (const char* r = find_named(unicode_data::kHtml5Entities, unicode_data::kHtml5EntitiesCount, name)) {
      out += decode_utf8(r);
    } else {
      // The longest known prefix (entities that may omit ';'), else the text unchanged.
      bool found = false;
      for (std::size_t x = ref.size() - 1; x > 1; --x) {
        const std::string prefix = encode_utf8(ref.substr(0, x));
        if (const char* p = find_named(unicode_data::kHtml5Entities, unicode_data::kHtml5EntitiesCount, prefix)) {
          out += decode_utf8(p);
          out += ref.substr(x);
          found = true;
          break;
        }
      }
      if (!found) {
        out.push_back('&');
        out += ref;
      }
    }
    i = end;
  }
  return out;
}

// ftfy fix_and_explain with the default configuration: the fixers in ftfy's order, repeated until nothing changes,
// or kFtfyMaxPasses times (the deviation: ftfy has no bound).
std::u32string ftfy_fix_segment(std::u32string_view segment, bool unescape) {
  std::u32string text(segment);
  for (int pass = 0; pass < kFtfyMaxPasses; ++pass) {
    const std::u32string before = text;
    if (unescape) text = ftfy_unescape_html(text);
    text = ftfy::fix_encoding(text);
    text = fix_characters(text);  // fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes,
                                  // fix_line_breaks (fix_surrogates: n/a, the text is valid UTF-8)
    text = remove_terminal_escapes(text);
    text.erase(std::remove_if(text.begin(), text.end(), is_ftfy_control), text.end());
    text = nfc(text);
    if (text == before) return text;
  }
  return text;
}

std::u32string ftfy_fix_text(std::u32string_view input) {
  // ftfy.fix_text: segments end after each "\n" or after max_decode_length characters; the "auto" HTML decision
  // turns unescaping off for good at the first segment holding '<'.
  std::u32string result;
  bool unescape = true;
  for (std::size_t pos = 0; pos < input.size();) {
    std::size_t brk = input.find(U'\n', pos);
    brk = (brk == std::u32string_view::npos) ? input.size() : brk + 1;
    brk = std::min(brk, pos + kFtfyMaxDecodeLength);
    const std::u32string_view segment = input.substr(pos, brk - pos);
    if (unescape && segment.find(U'<') != std::u32string_view::npos) unescape = false;
    result += ftfy_fix_segment(segment, unescape);
    pos = brk;
  }
  return result;
}

std::u32string whitespace_clean(std::u32string_view text) {
  std::u32string out;
  bool in_space = false;
  for (char32_t c : text) {
    if (is_whitespace(c)) {
      in_space = true;
      continue;
    }
    if (in_space && !out.empty()) out.push_back(' ');
    in_space = false;
    out.push_back(c);
  }
  return out;
}

std::u32string clip_clean_text(std::string_view utf8_prompt) {
  std::u32string text = ftfy_fix_text(decode_utf8(utf8_prompt));
  text = strip(html_unescape(html_unescape(text)));
  return to_lower(whitespace_clean(text));
}

}  // namespace genplug::flux::text
