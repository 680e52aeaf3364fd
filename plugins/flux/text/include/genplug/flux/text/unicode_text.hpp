// UTF-8 <-> code points and the Unicode data the CLIP tokenizer's reference path depends on, taken from ICU and
// pinned to the Unicode versions of that reference (OpenAI SimpleTokenizer under Python 3.11 + python3-regex
// 2022.10.31, see docs/text.md "Unicode versions"): characters that ICU knows but the pinned version does not
// are treated as unassigned (no letter, no space, no case mapping, no decomposition).
#pragma once
#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace genplug::flux::text {

// Length of the strict UTF-8 sequence starting at bytes[i] (i < size) and its code point in `cp`, or 0 when
// the bytes there are no valid UTF-8 (overlong, surrogate, above U+10FFFF, truncated) — Python's decoder.
std::size_t utf8_sequence_at(std::string_view bytes, std::size_t i, char32_t& cp);

// Unicode version of Python 3.11's unicodedata: str.isspace, str.lower, re's \s \w \d, unicodedata.normalize.
inline constexpr std::array<int, 2> kPythonUnicodeVersion{14, 0};
// Unicode version of python3-regex 2022.10.31: \p{L}, \p{N} in SimpleTokenizer's pre-split pattern.
inline constexpr std::array<int, 2> kRegexUnicodeVersion{15, 0};

// Decodes strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF). Throws std::invalid_argument
// naming `what` and the byte offset of the first invalid sequence.
std::u32string decode_utf8(std::string_view bytes, const std::string& what = "prompt");

// Whether `bytes` is strict UTF-8; on failure *error_offset is the offset of the first bad byte.
bool is_valid_utf8(std::string_view bytes, std::size_t* error_offset = nullptr);

void append_utf8(std::string& out, char32_t codepoint);
std::string encode_utf8(std::u32string_view text);

// Whether `c` was assigned in Unicode major.minor (ICU's Age property).
bool assigned_in(char32_t c, std::array<int, 2> version);

bool is_letter(char32_t c);         // regex \p{L}  (Unicode 15.0)
bool is_number(char32_t c);         // regex \p{N}  (Unicode 15.0)
bool is_whitespace(char32_t c);     // Python str.isspace(), re \s  (Unicode 14.0)
bool is_python_word(char32_t c);    // Python re \w: str.isalnum() or '_'  (Unicode 14.0)
bool is_decimal_digit(char32_t c);  // Python re \d: general category Nd  (Unicode 14.0)

// Simple case folding (what python3-regex's IGNORECASE compares; Unicode 15.0): ſ -> s, K (Kelvin) -> k, ...
char32_t simple_case_fold(char32_t c);

// Python str.lower(): full lower-case mappings, final sigma by context (Unicode 14.0).
std::u32string to_lower(std::u32string_view text);

// unicodedata.normalize("NFC", text) (Unicode 14.0).
std::u32string nfc(std::u32string_view text);

// unicodedata.normalize("NFKC", text) (Unicode 14.0).
std::u32string nfkc(std::u32string_view text);

}  // namespace genplug::flux::text
