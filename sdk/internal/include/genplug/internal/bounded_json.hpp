// JSON parsed with its nesting bounded — shared by the host and the bundled plugins; not installed.
//
// Why: nlohmann::json parses nesting iteratively, but destroying, copying, dumping or validating a value
// recurses once per level, so a file of 100 000 nested `[` overflowed the stack (issue 15, cases 1-2). The
// bound is applied while parsing: the parse stops at the first container deeper than it, so no deep value exists.
// Real documents nest a few levels (a manifest 6, a safetensors header 3); 64 leaves room.
#pragma once

#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
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

// Builds the value from nlohmann's SAX events as its own DOM parser does, but refuses to open a container deeper
// than max_depth (the parse stops there, so no deep value exists) and notes an object's key given twice. Not
// nlohmann's callback parser: that one scans the parent's members each time an object closes (quadratic: 80 000
// empty objects in one object took 17 s).
class BoundedJsonBuilder {
 public:
  using json = nlohmann::json;

  BoundedJsonBuilder(int max_depth, bool* duplicate_key) : max_depth_(max_depth), duplicate_key_(duplicate_key) {}

  bool null() { return place(nullptr); }
  bool boolean(bool v) { return place(v); }
  bool number_integer(json::number_integer_t v) { return place(v); }
  bool number_unsigned(json::number_unsigned_t v) { return place(v); }
  bool number_float(json::number_float_t v, const json::string_t&) { return place(v); }
  bool string(json::string_t& v) { return place(std::move(v)); }
  bool binary(json::binary_t& v) { return place(json::binary(std::move(v))); }
  bool start_object(std::size_t) { return open(json::object()); }
  bool start_array(std::size_t) { return open(json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(json::string_t& k) {
    json& object = *open_.back();
    if (object.contains(k) && duplicate_.empty() && duplicate_depth_ == 0) {
      if (duplicate_key_) *duplicate_key_ = true;
      duplicate_ = k;
      duplicate_depth_ = static_cast<int>(open_.size());
    }
    slot_ = &object[k];  // a doubled key's later value replaces the earlier, as nlohmann's parser does
    return true;
  }
  // The lexer's exception, of its own type (parse_error; out_of_range for a number no double holds).
  template <class Exception>
  bool parse_error(std::size_t, const std::string&, const Exception& error) {
    throw error;
  }

  bool too_deep() const { return too_deep_; }
  json& result() { return root_; }
  // The first key given twice in one object, and that object's depth (1: the top-level object); 0 when none was.
  const std::string& duplicate() const { return duplicate_; }
  int duplicate_depth() const { return duplicate_depth_; }

 private:
  // Where the next value goes: the root, the open array's end, or the open object's last key.
  json* put(json value) {
    if (open_.empty()) return &(root_ = std::move(value));
    json& parent = *open_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();  // no later push_back to this array while the value is open
    }
    return &(*slot_ = std::move(value));
  }
  bool place(json value) {
    put(std::move(value));
    return true;
  }
  bool open(json container) {
    if (static_cast<int>(open_.size()) > max_depth_) {  // the top level is depth 0
      too_deep_ = true;
      return false;
    }
    open_.push_back(put(std::move(container)));
    return true;
  }
  bool close() {
    open_.pop_back();
    return true;
  }

  int max_depth_;
  bool* duplicate_key_;
  bool too_deep_ = false;
  std::string duplicate_;
  int duplicate_depth_ = 0;
  json root_;
  std::vector<json*> open_;  // the containers being filled, outermost first
  json* slot_ = nullptr;
};

// nlohmann's parser ends the input at a NUL byte ("needed when parsing from string literals"), so a manifest
// followed by a NUL and anything at all parsed as the manifest. JSON text has no raw NUL (in a string it is
// written as the escape u0000): one in text given whole is a parse_error, as any other byte JSON does not allow.
template <class Input> void refuse_nul_bytes(const Input& input) {
  if constexpr (std::is_convertible_v<const Input&, std::string_view> && !std::is_pointer_v<std::decay_t<Input>>) {
    const std::string_view text(input);
    const size_t at = text.find('\0');
    if (at == std::string_view::npos) return;
    const std::string what = "syntax error: a NUL byte, which JSON text never holds (in a string: \\u0000)";
#if NLOHMANN_JSON_VERSION_MAJOR > 3 || (NLOHMANN_JSON_VERSION_MAJOR == 3 && NLOHMANN_JSON_VERSION_MINOR >= 11)
    throw nlohmann::json::parse_error::create(101, at + 1, what, nullptr);
#elif NLOHMANN_JSON_VERSION_MAJOR == 3 && NLOHMANN_JSON_VERSION_MINOR == 10
    throw nlohmann::json::parse_error::create(101, at + 1, what, nlohmann::json());
#else
    throw nlohmann::json::parse_error::create(101, at + 1, what);
#endif
  }
}

// nlohmann's message without its tag ("[json.exception.parse_error.101] "), which names its own source, not the
// input: what follows "not valid JSON: " in an error.
inline std::string json_error_text(const std::exception& e) {
  const std::string m = e.what();
  const size_t close = m.find("] ");
  return m.rfind("[json.exception.", 0) == 0 && close != std::string::npos ? m.substr(close + 2) : m;
}

// nlohmann::json::parse(input) with nesting bounded by max_depth. Throws nlohmann::json::exception for text that
// is not JSON (parse_error) or holds a number no double can hold (out_of_range), JsonTooDeep for deep nesting.
// With `duplicate_key`, also tells whether an object gave one key twice (nlohmann keeps the last value
// silently); where is for the caller to find, on that path only.
template <class Input>
nlohmann::json parse_bounded_json(Input&& input, int max_depth = kMaxJsonDepth, bool* duplicate_key = nullptr) {
  if (duplicate_key) *duplicate_key = false;
  refuse_nul_bytes(input);
  BoundedJsonBuilder builder(max_depth, duplicate_key);
  nlohmann::json::sax_parse(std::forward<Input>(input), &builder);
  if (builder.too_deep()) throw JsonTooDeep(max_depth);
  return std::move(builder.result());
}

// As parse_bounded_json, and in `duplicate` the first key an object gave twice (none: no value), for a caller
// that names it in its error.
template <class Input>
nlohmann::json parse_bounded_json(Input&& input, std::optional<std::string>& duplicate, int max_depth = kMaxJsonDepth) {
  bool doubled = false;
  refuse_nul_bytes(input);
  BoundedJsonBuilder builder(max_depth, &doubled);
  nlohmann::json::sax_parse(std::forward<Input>(input), &builder);
  if (builder.too_deep()) throw JsonTooDeep(max_depth);
  duplicate.reset();
  if (doubled) duplicate = builder.duplicate();
  return std::move(builder.result());
}

// The message for a key an object gave twice: refused by hosts and plugins alike, as JSON keeps the last value
// only and the first was meant too.
inline std::string duplicate_key_text(const std::string& key) {
  return "the key " + nlohmann::json(key).dump() + " appears twice in one object (JSON keeps the last value only): "
         "remove one";
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
