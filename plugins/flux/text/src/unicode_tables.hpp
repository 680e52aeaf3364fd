// Unicode data for the CLIP text clean-up, generated from Python (tools/gen_unicode_tables.py). No ICU needed.
#pragma once
#include <cstddef>

namespace genplug::flux::text::unicode_data {

struct CodepointRange {
  char32_t first, last;
};
struct CodepointMapping {
  char32_t codepoint;
  const char* utf8;  // replacement
};
struct NamedReplacement {
  const char* name;  // entity name without '&' (with ';' where the name has one)
  const char* utf8;
};

extern const CodepointRange kLetters[];  // regex \p{L}
extern const std::size_t kLettersCount;
extern const CodepointRange kNumbers[];  // regex \p{N}
extern const std::size_t kNumbersCount;
extern const CodepointRange kWhitespace[];  // Python str.isspace()
extern const std::size_t kWhitespaceCount;
extern const CodepointMapping kLower[];  // Python str.lower(), where it changes the character
extern const std::size_t kLowerCount;
extern const CodepointMapping kWidth[];  // ftfy fix_character_width
extern const std::size_t kWidthCount;
extern const CodepointMapping kC1[];  // ftfy fix_c1_controls
extern const std::size_t kC1Count;
extern const NamedReplacement kHtml5Entities[];  // html.entities.html5, sorted by name
extern const std::size_t kHtml5EntitiesCount;
extern const CodepointMapping kHtmlInvalidCharrefs[];  // html._invalid_charrefs
extern const std::size_t kHtmlInvalidCharrefsCount;
extern const char32_t kHtmlInvalidCodepoints[];  // html._invalid_codepoints, sorted
extern const std::size_t kHtmlInvalidCodepointsCount;
extern const NamedReplacement kFtfyUpperEntities[];  // ftfy: upper-cased lower-case-only entities, sorted
extern const std::size_t kFtfyUpperEntitiesCount;

}  // namespace genplug::flux::text::unicode_data
