// HTML data for the CLIP text clean-up, generated from Python (tools/gen_unicode_tables.py). Unicode properties
// come from ICU (unicode_text.cpp).
#pragma once
#include <cstddef>

namespace genplug::flux::text::unicode_data {

struct CodepointMapping {
  char32_t codepoint;
  const char* utf8;  // replacement
};
struct NamedReplacement {
  const char* name;  // entity name without '&' (with ';' where the name has one)
  const char* utf8;
};

extern const NamedReplacement kHtml5Entities[];  // html.entities.html5, sorted by name
extern const std::size_t kHtml5EntitiesCount;
extern const CodepointMapping kHtmlInvalidCharrefs[];  // html._invalid_charrefs
extern const std::size_t kHtmlInvalidCharrefsCount;
extern const char32_t kHtmlInvalidCodepoints[];  // html._invalid_codepoints, sorted
extern const std::size_t kHtmlInvalidCodepointsCount;
extern const NamedReplacement kFtfyUpperEntities[];  // ftfy: upper-cased lower-case-only entities, sorted
extern const std::size_t kFtfyUpperEntitiesCount;

}  // namespace genplug::flux::text::unicode_data
