// ftfy 6.3.1's mojibake heuristic (badness.is_bad): does the text hold a sequence of characters that is far more
// likely to be mojibake than intended text (an accented lower-case letter followed by a currency sign, a
// box-drawing character next to a letter, "Ã" followed by a no-break space, ...)? Deciding on this, ftfy repairs a
// segment or leaves it alone.
#pragma once
#include <cstdint>
#include <string_view>

namespace genplug::flux::text::ftfy {

// ftfy_data class bits of `c` (0 for characters in none of the classes).
uint32_t char_classes(char32_t c);

// badness.is_bad: whether any of ftfy's mojibake patterns matches somewhere in `text`.
bool is_bad(std::u32string_view text);

}  // namespace genplug::flux::text::ftfy
