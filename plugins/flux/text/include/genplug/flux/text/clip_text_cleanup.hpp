// The text clean-up OpenAI's CLIP SimpleTokenizer applies before BPE:
//   whitespace_clean(basic_clean(text)).lower(),  basic_clean = ftfy.fix_text -> html.unescape twice -> strip.
// ftfy is reproduced in part (see docs/text.md): HTML entities, C1 controls, Latin ligatures, full-/half-width
// forms, curly quotes, line breaks, terminal escapes, control characters. Not covered: mojibake (encoding) repair
// and NFC normalisation.
#pragma once
#include <string>
#include <string_view>

namespace genplug::flux::text {

// The ftfy.fix_text subset described above (default configuration, unescape_html="auto").
std::u32string ftfy_fix_text(std::u32string_view text);

// Python html.unescape.
std::u32string html_unescape(std::u32string_view text);

// re.sub(r'\s+', ' ', text).strip()
std::u32string whitespace_clean(std::u32string_view text);

// The whole clean-up; the result is lower-case. Throws std::invalid_argument for invalid UTF-8.
std::u32string clip_clean_text(std::string_view utf8_prompt);

}  // namespace genplug::flux::text
