// The byte codecs ftfy's mojibake repair goes through: its single-byte code pages (ftfy_tables) and the
// "utf-8-variants" decoder (UTF-8 that also accepts CESU-8 surrogate pairs and Java's C0 80 for U+0000).
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "ftfy_tables.hpp"

namespace genplug::flux::text::ftfy {

// ftfy chardata.possible_encoding: every character of `text` has a byte in `page` (U+001A only where the page
// decodes byte 0x1A to it).
bool encodable(std::u32string_view text, const ftfy_data::Charmap& page);
bool is_ascii(std::u32string_view text);

// text.encode(page); `text` must be encodable.
std::string encode(std::u32string_view text, const ftfy_data::Charmap& page);

// The page named `name` (throws std::logic_error when there is none).
const ftfy_data::Charmap& charmap(std::string_view name);

// Python's strict windows-1252 decoder (not the sloppy one): nullopt for bytes it leaves undefined.
std::optional<std::u32string> decode_windows_1252_strict(std::string_view bytes);

// ftfy's utf-8-variants decoder, strict: nullopt where Python raises UnicodeDecodeError.
std::optional<std::u32string> decode_utf8_variants(std::string_view bytes);

}  // namespace genplug::flux::text::ftfy
