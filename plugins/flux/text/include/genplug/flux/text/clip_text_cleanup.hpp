// The text clean-up OpenAI's CLIP SimpleTokenizer applies before BPE:
//   whitespace_clean(basic_clean(text)).lower(),  basic_clean = ftfy.fix_text -> html.unescape twice -> strip.
// ftfy 6.3.1's fix_text with its default TextFixerConfig is reproduced whole (docs/text.md): HTML entities
// (unescape_html="auto"), terminal escapes, mojibake repair (fix_encoding), C1 controls, Latin ligatures, full-/
// half-width forms, curly quotes, line breaks, control characters, NFC; per line, repeated until stable (or
// kFtfyMaxPasses times).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace genplug::flux::text {

// ftfy TextFixerConfig.max_decode_length: longer lines are fixed in pieces of this many characters.
inline constexpr std::size_t kFtfyMaxDecodeLength = 1000000;

// Passes of ftfy's fixers over one segment, at most. ftfy repeats them until nothing changes, and each pass undoes
// one level of nested HTML escapes ("&amp;amp;lt;" takes three), so a prompt built of such levels takes time
// quadratic in its length: 400 KB of them had run for minutes. Text that needs more passes is built to need them.
inline constexpr int kFtfyMaxPasses = 32;

// ftfy.fix_text(text) (default configuration, unescape_html="auto"), with at most kFtfyMaxPasses passes a segment.
std::u32string ftfy_fix_text(std::u32string_view text);

// Python html.unescape.
std::u32string html_unescape(std::u32string_view text);

// re.sub(r'\s+', ' ', text).strip()
std::u32string whitespace_clean(std::u32string_view text);

// The whole clean-up; the result is lower-case. Throws std::invalid_argument for invalid UTF-8.
std::u32string clip_clean_text(std::string_view utf8_prompt);

}  // namespace genplug::flux::text
