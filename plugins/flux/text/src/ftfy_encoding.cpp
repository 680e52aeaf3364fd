#include "ftfy_encoding.hpp"

#include <array>
#include <initializer_list>
#include <optional>
#include <vector>

#include "ftfy_badness.hpp"
#include "ftfy_codecs.hpp"

namespace genplug::flux::text::ftfy {
namespace {

using ftfy_data::Charmap;

// A fixed-length byte pattern: one set of accepted bytes per position.
using ByteSet = std::array<bool, 256>;
using BytePattern = std::vector<ByteSet>;

// A set from single bytes and inclusive ranges written as {lo, hi} pairs.
ByteSet bytes_of(std::initializer_list<std::pair<int, int>> ranges) {
  ByteSet s{};
  for (auto [lo, hi] : ranges)
    for (int b = lo; b <= hi; ++b) s[static_cast<std::size_t>(b)] = true;
  return s;
}
ByteSet one(int b) { return bytes_of({{b, b}}); }

// Length of the first of `alternatives` that matches at bytes[i] (0 when none does).
std::size_t match_at(const std::vector<BytePattern>& alternatives, std::string_view bytes, std::size_t i) {
  for (const BytePattern& p : alternatives) {
    if (i + p.size() > bytes.size()) continue;
    bool ok = true;
    for (std::size_t k = 0; ok && k < p.size(); ++k) ok = p[k][static_cast<unsigned char>(bytes[i + k])];
    if (ok) return p.size();
  }
  return 0;
}

// UTF-8 sequences whose continuation byte 0xA0 was turned into a space (ftfy ALTERED_UTF8_RE).
const std::vector<BytePattern>& altered_utf8() {
  static const std::vector<BytePattern> p = [] {
    const ByteSet sp = one(' ');
    const ByteSet cont_no_a0 = bytes_of({{0x80, 0x84}, {0x86, 0x9F}, {0xA1, 0xBF}});
    const ByteSet cont = bytes_of({{0x80, 0xBF}});
    return std::vector<BytePattern>{
        {bytes_of({{0xC2, 0xC3}, {0xC5, 0xC5}, {0xCE, 0xCE}, {0xD0, 0xD0}, {0xD9, 0xD9}}), sp},
        {bytes_of({{0xE2, 0xE3}}), sp, cont_no_a0},
        {bytes_of({{0xE0, 0xE3}}), cont_no_a0, sp},
        {one(0xF0), sp, cont, cont},
        {one(0xF0), cont, sp, cont},
        {one(0xF0), cont, cont, sp},
    };
  }();
  return p;
}

// UTF-8 sequences damaged by a lossy code page: 0x1A (the page's U+FFFD) or '?' in place of bytes (LOSSY_UTF8_RE).
const std::vector<BytePattern>& lossy_utf8() {
  static const std::vector<BytePattern> p = [] {
    const ByteSet sub_q = bytes_of({{0x1A, 0x1A}, {'?', '?'}});
    const ByteSet sub_cont = bytes_of({{0x1A, 0x1A}, {0x80, 0xBF}});
    const ByteSet any_cont = bytes_of({{0x1A, 0x1A}, {'?', '?'}, {0x80, 0xBF}});
    const ByteSet hi_lead = bytes_of({{0xA0, 0xAF}}), lo_lead = bytes_of({{0xB0, 0xBF}});
    const ByteSet e = bytes_of({{0xE0, 0xEF}}), f = bytes_of({{0xF0, 0xF4}});
    return std::vector<BytePattern>{
        {bytes_of({{0xC2, 0xDF}}), one(0x1A)},
        {bytes_of({{0xC2, 0xC3}}), one('?')},
        {one(0xED), hi_lead, sub_q, one(0xED), lo_lead, any_cont},
        {one(0xED), hi_lead, any_cont, one(0xED), lo_lead, sub_q},
        {e, sub_q, sub_cont},
        {e, sub_cont, sub_q},
        {f, sub_q, sub_cont, sub_cont},
        {f, sub_cont, sub_q, sub_cont},
        {f, sub_cont, sub_cont, sub_q},
        {one(0x1A)},
    };
  }();
  return p;
}

// "Ã" + space is "à" + space whose 0xA0 became a space, unless a Portuguese/Italian word follows (ftfy
// A_GRAVE_WORD_RE: C3 20 not followed by " ", "quele", "quela", "quilo", "s ").
bool a_grave_word_at(std::string_view b, std::size_t i) {
  if (b.compare(i, 2, "\xC3 ") != 0) return false;
  const std::string_view rest = b.substr(i + 2);
  for (std::string_view w : {" ", "quele", "quela", "quilo", "s "})
    if (rest.substr(0, w.size()) == w) return false;
  return true;
}

// Python's re.sub semantics for fixed-length alternatives: scan left to right, replace each match by f(match).
template <typename F>
std::string sub_bytes(const std::vector<BytePattern>& alternatives, std::string_view bytes, F f) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size();) {
    if (const std::size_t n = match_at(alternatives, bytes, i)) {
      out += f(bytes.substr(i, n));
      i += n;
    } else {
      out.push_back(bytes[i++]);
    }
  }
  return out;
}

// Length of the UTF8_DETECTOR_RE match at text[i] (0 when none): one or more of
// first_of_2 + 1 continuation | first_of_3 + 2 | first_of_4 + 3, not preceded by a strict continuation.
std::size_t utf8_mojibake_at(std::u32string_view text, std::size_t i) {
  using namespace ftfy_data;
  if (i > 0 && (char_classes(text[i - 1]) & kUtf8ContinuationStrict)) return 0;
  std::size_t pos = i;
  while (pos < text.size()) {
    const uint32_t lead = char_classes(text[pos]);
    std::size_t taken = 0;
    for (auto [bit, conts] : {std::pair{kUtf8First2, 1}, std::pair{kUtf8First3, 2}, std::pair{kUtf8First4, 3}}) {
      if (!(lead & bit) || pos + 1 + conts > text.size()) continue;
      bool ok = true;
      for (int k = 1; ok && k <= conts; ++k) ok = char_classes(text[pos + k]) & kUtf8Continuation;
      if (ok) {
        taken = 1 + conts;
        break;
      }
    }
    if (taken == 0) break;
    pos += taken;
  }
  return pos - i;
}

// The first code page that can repair `text` by encoding it and decoding the bytes as UTF-8.
std::optional<std::u32string> reencode(std::u32string_view text, std::vector<const Charmap*>& possible) {
  for (std::size_t p = 0; p < ftfy_data::kCharmapsCount; ++p) {
    const Charmap& page = ftfy_data::kCharmaps[p];
    if (!encodable(text, page)) continue;
    possible.push_back(&page);
    std::string bytes = encode(text, page);
    if (std::string_view(page.name) != "macroman" && has_altered_utf8(bytes)) bytes = restore_byte_a0(bytes);
    if (page.sloppy) bytes = replace_lossy_sequences(bytes);
    if (auto decoded = decode_utf8_variants(bytes)) return decoded;
  }
  return std::nullopt;
}

}  // namespace

bool has_altered_utf8(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size(); ++i)
    if (match_at(altered_utf8(), bytes, i)) return true;
  return false;
}

std::string restore_byte_a0(std::string_view bytes) {
  std::string step;
  for (std::size_t i = 0; i < bytes.size();) {
    if (a_grave_word_at(bytes, i)) {
      step += "\xC3\xA0 ";
      i += 2;
    } else {
      step.push_back(bytes[i++]);
    }
  }
  return sub_bytes(altered_utf8(), step, [](std::string_view m) {
    std::string r(m);
    for (char& c : r)
      if (c == ' ') c = '\xA0';
    return r;
  });
}

std::string replace_lossy_sequences(std::string_view bytes) {
  return sub_bytes(lossy_utf8(), bytes, [](std::string_view) { return std::string("\xEF\xBF\xBD"); });
}

bool has_utf8_mojibake(std::u32string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i)
    if (utf8_mojibake_at(text, i)) return true;
  return false;
}

std::u32string decode_inconsistent_utf8(std::u32string_view text) {
  std::u32string out;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8_mojibake_at(text, i);
    if (n == 0) {
      out.push_back(text[i++]);
      continue;
    }
    const std::u32string_view piece = text.substr(i, n);
    out += (n < text.size() && is_bad(piece)) ? fix_encoding(piece) : std::u32string(piece);
    i += n;
  }
  return out;
}

std::u32string fix_c1_controls(std::u32string_view text) {
  const Charmap& page = charmap("sloppy-windows-1252");
  std::u32string out(text);
  for (char32_t& c : out)
    if (c >= 0x80 && c <= 0x9F) c = page.high[c - 0x80];
  return out;
}

std::u32string fix_encoding_step(std::u32string_view text) {
  if (text.empty() || is_ascii(text) || !is_bad(text)) return std::u32string(text);
  std::vector<const Charmap*> possible;
  if (auto fixed = reencode(text, possible)) return *fixed;
  if (has_utf8_mojibake(text)) {
    std::u32string fixed = decode_inconsistent_utf8(text);
    if (fixed != text) return fixed;
  }
  // Latin-1 that could not be UTF-8: read it as windows-1252 instead (ftfy checks for "windows-1252" among the
  // possible pages first, a name its list never holds, so this always runs).
  if (!possible.empty() && std::string_view(possible.front()->name) == "latin-1") {
    if (auto fixed = decode_windows_1252_strict(encode(text, *possible.front())); fixed && *fixed != text)
      return *fixed;
  }
  for (char32_t c : text)
    if (c >= 0x80 && c <= 0x9F) return fix_c1_controls(text);
  return std::u32string(text);
}

std::u32string fix_encoding(std::u32string_view text) {
  std::u32string current(text);
  while (true) {
    std::u32string next = fix_encoding_step(current);
    if (next == current) return next;
    current = std::move(next);
  }
}

}  // namespace genplug::flux::text::ftfy
