// ftfy 6.3.1 fix_encoding with its default configuration: mojibake detection (is_bad) and repair by re-encoding in
// the code page that produced it and decoding as UTF-8, with restore_byte_a0, replace_lossy_sequences,
// decode_inconsistent_utf8, the latin-1 -> windows-1252 fallback and fix_c1_controls, repeated until stable.
#pragma once
#include <string>
#include <string_view>

namespace genplug::flux::text::ftfy {

// ftfy.fix_encoding (default TextFixerConfig).
std::u32string fix_encoding(std::u32string_view text);

// One step of it (ftfy _fix_encoding_one_step_and_explain); returns the text unchanged when it finds nothing.
std::u32string fix_encoding_step(std::u32string_view text);

// Byte-level helpers of the repair (ftfy fixes.restore_byte_a0 / replace_lossy_sequences).
bool has_altered_utf8(std::string_view bytes);
std::string restore_byte_a0(std::string_view bytes);
std::string replace_lossy_sequences(std::string_view bytes);

// ftfy fixes.decode_inconsistent_utf8: repairs UTF-8 mojibake embedded in otherwise good text.
bool has_utf8_mojibake(std::u32string_view text);
std::u32string decode_inconsistent_utf8(std::u32string_view text);

// ftfy fixes.fix_c1_controls: U+0080-U+009F read as the sloppy windows-1252 bytes they are.
std::u32string fix_c1_controls(std::u32string_view text);

}  // namespace genplug::flux::text::ftfy
