// UTF-8 <-> code points and the Unicode character classes the CLIP tokenizer needs (no ICU).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace genplug::flux::text {

// Decodes strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF). Throws std::invalid_argument
// naming `what` and the byte offset of the first invalid sequence.
std::u32string decode_utf8(std::string_view bytes, const std::string& what = "prompt");

// Whether `bytes` is strict UTF-8; on failure *error_offset is the offset of the first bad byte.
bool is_valid_utf8(std::string_view bytes, std::size_t* error_offset = nullptr);

void append_utf8(std::string& out, char32_t codepoint);
std::string encode_utf8(std::u32string_view text);

bool is_letter(char32_t c);      // \p{L}
bool is_number(char32_t c);      // \p{N}
bool is_whitespace(char32_t c);  // Python str.isspace()

// Python str.lower() (full lower-case mapping).
std::u32string to_lower(std::u32string_view text);

}  // namespace genplug::flux::text
