// ftfy's mojibake detector (badness), rewritten: the alternatives of ftfy 6.3.1's BADNESS_RE as functions over the
// character classes of ftfy_tables. Exactness against ftfy needs the same classes and alternatives; the classes
// are data derived from ftfy (Copyright 2023 Robyn Speer, Apache License 2.0, github.com/rspeer/python-ftfy), the
// matching code is this project's.
#include "ftfy_badness.hpp"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <vector>

#include <genplug/flux/text/unicode_text.hpp>

#include "ftfy_tables.hpp"

namespace genplug::flux::text::ftfy {
namespace {

// One position of a pattern: a character in any of the classes `mask`, or one of `chars`, or one of the
// character kinds in `kinds`.
enum Kind : uint8_t {
  kAsciiLower = 1,   // [a-z]
  kAsciiUpper = 2,   // [A-Z]
  kSpace = 4,        // \s (Python str.isspace)
  kWord = 8,         // \w (Python: alphanumeric or '_')
  kNotNewline = 16,  // .
  kNotAsciiLetter = 32,  // [^A-Za-z]
};
struct Position {
  uint32_t mask = 0;
  std::u32string_view chars;
  uint8_t kinds = 0;
};
struct Pattern {
  std::vector<Position> positions;
  bool at_start = false;  // anchored with ^
};

// `classes` = char_classes(c), looked up once per character of the text (a binary search) rather than once per
// pattern position: is_bad tries ~40 patterns at every character.
bool matches(const Position& p, char32_t c, uint32_t classes) {
  if (classes & p.mask) return true;
  if (p.chars.find(c) != std::u32string_view::npos) return true;
  const bool lower = c >= 'a' && c <= 'z', upper = c >= 'A' && c <= 'Z';
  if ((p.kinds & kAsciiLower) && lower) return true;
  if ((p.kinds & kAsciiUpper) && upper) return true;
  if ((p.kinds & kSpace) && is_whitespace(c)) return true;
  if ((p.kinds & kWord) && is_python_word(c)) return true;
  if ((p.kinds & kNotNewline) && c != '\n') return true;
  if ((p.kinds & kNotAsciiLetter) && !lower && !upper) return true;
  return false;
}

Position cls(uint32_t mask, std::u32string_view chars = {}, uint8_t kinds = 0) { return Position{mask, chars, kinds}; }
Position lit(std::u32string_view chars) { return Position{0, chars, 0}; }
Position kind(uint8_t kinds) { return Position{0, {}, kinds}; }

// The alternatives of ftfy's BADNESS_RE, each a fixed sequence of positions. `[a-z]\s?[ÃÂ][ ]` is written as its two
// lengths.
const std::vector<Pattern>& patterns() {
  using namespace ftfy_data;  // the class masks; in the function, so that no other file of a unity batch gets them
  constexpr uint32_t accented = kLowerAccented | kUpperAccented;
  constexpr uint32_t punct = kStartPunct | kEndPunct;
  static const std::vector<Pattern> all = [] {
    std::vector<Pattern> p;
    auto add = [&](std::initializer_list<Position> seq, bool at_start = false) {
      p.push_back(Pattern{std::vector<Position>(seq), at_start});
    };
    const uint32_t sym = kBox | punct | kCurrency | kNumeric | kLaw;  // the classes that surround "bad" characters
    add({cls(kC1)});
    add({cls(kBad | accented | sym), cls(kBad)});
    add({kind(kAsciiLower | kAsciiUpper), cls(kLowerCommon | kUpperCommon), cls(kBad)});
    add({cls(kBad), cls(accented | sym)});
    add({cls(kLowerAccented | kLowerCommon | kBox | kEndPunct | kCurrency | kNumeric), cls(kUpperAccented)});
    add({cls(kBox | kEndPunct | kCurrency | kNumeric), cls(kLowerAccented)});
    add({cls(kLowerAccented | kBox | kEndPunct), cls(kCurrency)});
    add({kind(kSpace), cls(kUpperAccented), cls(kCurrency)});
    add({cls(kUpperAccented | kBox), cls(kNumeric | kLaw)});
    add({cls(accented | kBox | kCurrency | kEndPunct), cls(kStartPunct), cls(kNumeric)});
    add({cls(accented | kCurrency | kNumeric | kBox | kLaw), cls(kEndPunct), cls(kStartPunct)});
    add({cls(kCurrency | kNumeric | kBox), cls(kStartPunct)});
    add({kind(kAsciiLower), cls(kUpperAccented), cls(kStartPunct | kCurrency)});
    add({cls(kBox), cls(kKaomoji)});
    add({cls(accented | kCurrency | kNumeric | punct | kLaw), cls(kBox)});
    add({cls(kBox), cls(kEndPunct)});
    add({cls(accented), cls(punct), kind(kWord)});
    add({lit(U"\u0152\u0153"), kind(kNotAsciiLetter)});                // a ligature oe not followed by a Latin letter
    add({cls(kUpperAccented), lit(U"\u00B0")});                        // degree sign after a capital
    add({lit(U"\u00C2\u00C3\u00CE\u00D0"),                              // windows-1252 two-character mojibake
         cls(punct, U"\u20AC\u0153\u0160\u0161\u00A2\u00A3\u0178\u017E\u00A0\u00AD\u00AE\u00A9\u00B0\u00B7\u00BB"
                    U"\u2013\u2014\u00B4")});
    add({lit(U"\u00D7"), lit(U"\u00B2\u00B3")});
    const Position arabic = cls(kCommon | kCurrency | kBad | kNumeric | kStartPunct, U"\u0178\u0160\u00AE\u00B0\u00B5\u00BB");
    add({lit(U"\u00D8\u00D9"), arabic, lit(U"\u00D8\u00D9"), arabic});  // windows-1252 Arabic: four characters
    add({lit(U"\u00E0"), lit(U"\u00B2\u00B5\u00B9\u00BC\u00BD\u00BE")});  // South Asian scripts' three-byte starts
    add({lit(U"\u221A"), lit(U"\u00B1\u2202\u2020\u2260\u00AE\u2122\u00B4\u2264\u2265\u00A5\u00B5\u00F8")});  // MacRoman
    add({lit(U"\u2248"), lit(U"\u00B0\u00A2")});
    add({lit(U"\u201A"), lit(U"\u00C4"), lit(U"\u00EC\u00EE\u00EF\u00F2\u00F4\u00FA\u00F9\u00FB\u2020\u00B0\u00A2\u03C0")});
    add({lit(U"\u201A"), lit(U"\u00E2\u00F3"), lit(U"\u00E0\u00E4\u00B0\u00EA")});
    add({lit(U"\u0432"), lit(U"\u0402")});  // windows-1251, U+2000 range
    const Position cyr = lit(U"\u0412\u0413\u0420\u0421");
    add({cyr, cls(kC1 | kBad | punct | kCurrency, U"\u00B0\u00B5"), cyr});
    add({lit(U"\u0413"), lit(U"\u045E"), lit(U"\u0412"), lit(U"\u0402"), lit(U"\u0412"), kind(kNotNewline),
         kind(kAsciiLower | kAsciiUpper)});
    p.back().positions.back().chars = U" ";
    add({lit(U"\u00C3"), lit(U"\u00A0\u00A1")});
    add({kind(kAsciiLower), lit(U"\u00C3\u00C2"), lit(U" ")});
    add({kind(kAsciiLower), kind(kSpace), lit(U"\u00C3\u00C2"), lit(U" ")});
    add({lit(U"\u00C3\u00C2"), lit(U" ")}, true);
    add({cls(kEndPunct, U".,?!", kAsciiLower), lit(U"\u00C2"), cls(punct, U" ")});
    add({lit(U"\u03B2"), lit(U"\u20AC"), lit(U"\u2122\u00A0\u0386\u00AD\u00AE\u00B0")});  // windows-1253
    const Position greek = lit(U"\u0392\u0393\u039E\u039F");
    add({greek, cls(kC1 | kBad | punct | kCurrency, U"\u00B0"), greek});
    add({lit(U"\u0101"), lit(U"\u20AC")});  // windows-1257
    return p;
  }();
  return all;
}

bool matches_at(const Pattern& pattern, std::u32string_view text, const std::vector<uint32_t>& classes,
                std::size_t i) {
  if (pattern.at_start && i != 0) return false;
  if (i + pattern.positions.size() > text.size()) return false;
  for (std::size_t k = 0; k < pattern.positions.size(); ++k)
    if (!matches(pattern.positions[k], text[i + k], classes[i + k])) return false;
  return true;
}

// Per ASCII character, the patterns whose first position it matches. ASCII is most of any text and starts few
// patterns (most need a classed or non-ASCII character first), so is_bad tries only these there.
const std::array<std::vector<const Pattern*>, 128>& patterns_starting_with_ascii() {
  static const auto table = [] {
    std::array<std::vector<const Pattern*>, 128> t;
    for (char32_t c = 0; c < 128; ++c)
      for (const Pattern& pattern : patterns())
        if (matches(pattern.positions.front(), c, char_classes(c))) t[c].push_back(&pattern);
    return t;
  }();
  return table;
}

}  // namespace

uint32_t char_classes(char32_t c) {
  using ftfy_data::ClassEntry, ftfy_data::kClasses, ftfy_data::kClassesCount;
  const auto* end = kClasses + kClassesCount;
  const auto* it = std::lower_bound(kClasses, end, c, [](const ClassEntry& e, char32_t v) { return e.codepoint < v; });
  return (it != end && it->codepoint == c) ? it->mask : 0;
}

bool is_bad(std::u32string_view text) {
  std::vector<uint32_t> classes(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) classes[i] = char_classes(text[i]);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] < 128) {
      for (const Pattern* pattern : patterns_starting_with_ascii()[text[i]])
        if (matches_at(*pattern, text, classes, i)) return true;
    } else {
      for (const Pattern& pattern : patterns())
        if (matches_at(pattern, text, classes, i)) return true;
    }
  }
  return false;
}

}  // namespace genplug::flux::text::ftfy
