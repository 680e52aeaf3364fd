// JSON parsed with its nesting bounded — shared by the host and the bundled plugins; not installed.
//
// Why: nlohmann::json parses nesting iteratively, but destroying, copying, dumping or validating a value
// recurses once per level, so a file of 100 000 nested `[` overflowed the stack (issue 15, cases 1-2). The
// bound is applied while parsing: deeper values are dropped as they arrive, so no deep value ever exists.
// Real documents nest a few levels (a manifest 6, a safetensors header 3); 64 leaves room.
#pragma once

#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace genplug::internal {

inline constexpr int kMaxJsonDepth = 64;

// Thrown by parse_bounded_json when the text nests deeper than the bound; callers rethrow it as their own
// error kind with the file or field in front of what().
class JsonTooDeep : public std::runtime_error {
 public:
  explicit JsonTooDeep(int limit) : std::runtime_error("nested deeper than " + std::to_string(limit) + " levels") {}
};

// nlohmann::json::parse(input) with nesting bounded by max_depth. Throws nlohmann::json::exception for text that
// is not JSON (parse_error) or holds a number no double can hold (out_of_range), JsonTooDeep for deep nesting.
// With `duplicate_key`, also tells whether an object gave one key twice (nlohmann keeps the last value
// silently); where is for the caller to find, on that path only.
template <class Input>
nlohmann::json parse_bounded_json(Input&& input, int max_depth = kMaxJsonDepth, bool* duplicate_key = nullptr) {
  using json = nlohmann::json;
  bool too_deep = false;
  // The keys of the object open at each depth: an object's start clears its depth's set, so siblings (which
  // follow one another) never share one; nothing is kept past max_depth.
  std::vector<std::set<std::string>> keys;
  const auto limit = [&](int depth, json::parse_event_t event, json& parsed) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) && depth > max_depth)
      too_deep = true;
    if (duplicate_key && !too_deep) {
      const auto at = static_cast<std::size_t>(depth);
      if (event == json::parse_event_t::object_start) {
        if (keys.size() <= at + 1) keys.resize(at + 2);
        keys[at + 1].clear();
      } else if (event == json::parse_event_t::key && at < keys.size()) {
        if (!keys[at].insert(parsed.get_ref<const std::string&>()).second) *duplicate_key = true;
      }
    }
    return !too_deep;  // false drops the value; once too deep, drop everything that follows as well
  };
  if (duplicate_key) *duplicate_key = false;
  json parsed = json::parse(std::forward<Input>(input), limit);
  if (too_deep) throw JsonTooDeep(max_depth);
  return parsed;
}

// The number quoted in nlohmann's out_of_range "number overflow parsing '1e400'" (else the whole message), at most
// 40 characters: what callers name after "a number is outside the range of a double: ".
inline std::string overflowing_number(const std::string& message) {
  const auto open = message.find('\''), close = message.rfind('\'');
  std::string n = open != std::string::npos && close > open ? message.substr(open + 1, close - open - 1) : message;
  return n.size() > 40 ? n.substr(0, 40) + "..." : n;
}

// As parse_bounded_json, for text whose failure has a fallback: anything that is not JSON, or nests too deep,
// gives a discarded value (is_discarded(); is_object() is false) instead of an exception.
template <class Input>
nlohmann::json parse_bounded_json_or_discarded(Input&& input, int max_depth = kMaxJsonDepth) {
  try {
    return parse_bounded_json(std::forward<Input>(input), max_depth);
  } catch (const std::exception&) {
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
}

}  // namespace genplug::internal
