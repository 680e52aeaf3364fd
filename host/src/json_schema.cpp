// genplug host — JSON Schema subset: construction-time checks (SchemaChecker) and validation (Validator).
#include "genplug/host/json_schema.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace genplug::host {

using json = nlohmann::json;

// Lives behind a shared_ptr so that addresses inside `root` stay valid: $ref targets are stored as pointers.
struct JsonSchema::Compiled {
  json root;
  std::map<std::string, std::regex> regexes;                // `pattern` text -> compiled regex
  std::unordered_map<const json*, const json*> ref_target;  // schema object holding "$ref" -> the referenced schema
};

namespace {

// ECMAScript, matched breadth-first where the library can (json_schema.hpp: no recursion per character, no
// exponential backtracking; back-references refused when the pattern is compiled).
#ifdef __GLIBCXX__
constexpr auto kPatternSyntax = std::regex::ECMAScript | std::regex_constants::__polynomial;
#else
constexpr auto kPatternSyntax = std::regex::ECMAScript;
#endif

// ---------------------------------------------------------------------------------------------------------------
// Small text helpers

// A value as it appears in messages: compact JSON, cut short when long.
std::string brief(const json& value) {
  constexpr std::size_t kMax = 60;
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kMax) text = text.substr(0, kMax - 3) + "...";
  return text;
}

// " character" after a count of 1 (minLength: 1), " characters" after any other.
std::string characters(const json& count) {
  return count.is_number() && count.get<double>() == 1.0 ? " character" : " characters";
}

bool is_identifier(const std::string& key) {
  if (key.empty() || std::isdigit(static_cast<unsigned char>(key[0]))) return false;
  return std::all_of(key.begin(), key.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-';
  });
}

std::string child_path(const std::string& base, const std::string& key) {
  if (!is_identifier(key)) return base + "[" + json(key).dump(-1, ' ', false, json::error_handler_t::replace) + "]";
  return base.empty() ? key : base + "." + key;
}

std::string index_path(const std::string& base, std::size_t index) {
  return base + "[" + std::to_string(index) + "]";
}

// JSON pointer token escaping, for schema locations in SchemaError messages.
std::string pointer_token(const std::string& key) {
  std::string out;
  for (char ch : key) {
    if (ch == '~') out += "~0";
    else if (ch == '/') out += "~1";
    else out += ch;
  }
  return out;
}

std::string percent_decode(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::size_t code_points(const std::string& utf8) {
  return static_cast<std::size_t>(std::count_if(utf8.begin(), utf8.end(), [](char ch) {
    return (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
  }));
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// ---------------------------------------------------------------------------------------------------------------
// Numbers: exact for integers (signed and unsigned 64-bit), long double otherwise.

bool is_integral(const json& value) {
  if (value.is_number_integer()) return true;
  if (!value.is_number_float()) return false;
  const double x = value.get<double>();
  return std::isfinite(x) && std::floor(x) == x;
}

// -1, 0, 1 as a <, ==, > b.
int compare_numbers(const json& a, const json& b) {
  if (a.is_number_integer() && b.is_number_integer()) {
    const bool a_negative = !a.is_number_unsigned() && a.get<std::int64_t>() < 0;
    const bool b_negative = !b.is_number_unsigned() && b.get<std::int64_t>() < 0;
    if (a_negative != b_negative) return a_negative ? -1 : 1;
    if (a_negative) {
      const auto x = a.get<std::int64_t>(), y = b.get<std::int64_t>();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    const auto x = a.get<std::uint64_t>(), y = b.get<std::uint64_t>();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  const long double x = a.get<long double>(), y = b.get<long double>();
  return x < y ? -1 : (x > y ? 1 : 0);
}

std::uint64_t magnitude(const json& integer) {
  if (integer.is_number_unsigned()) return integer.get<std::uint64_t>();
  const auto value = integer.get<std::int64_t>();
  return value < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(value) : static_cast<std::uint64_t>(value);
}

bool is_multiple_of(const json& value, const json& divisor) {
  if (value.is_number_integer() && divisor.is_number_integer()) return magnitude(value) % magnitude(divisor) == 0;
  const long double quotient = value.get<long double>() / divisor.get<long double>();
  if (!std::isfinite(quotient)) return false;
  // Decimal divisors such as 0.1 are not exact in binary: accept a quotient within rounding error of an integer.
  return std::fabs(quotient - std::round(quotient)) <= 1e-9L * std::max(1.0L, std::fabs(quotient));
}

// ---------------------------------------------------------------------------------------------------------------
// Types

const std::set<std::string> kTypeNames = {"null", "boolean", "object", "array", "number", "integer", "string"};

bool has_type(const json& value, const std::string& type) {
  if (type == "null") return value.is_null();
  if (type == "boolean") return value.is_boolean();
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "number") return value.is_number();
  if (type == "integer") return is_integral(value);  // 1.0 is an integer, as the spec says
  if (type == "string") return value.is_string();
  return false;
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? separator : "") + parts[i];
  return out;
}

std::vector<std::string> type_list(const json& type) {
  if (type.is_string()) return {type.get<std::string>()};
  std::vector<std::string> names;
  for (const auto& name : type) names.push_back(name.get<std::string>());
  return names;
}

// ---------------------------------------------------------------------------------------------------------------
// Construction-time checks: every keyword known and well-formed, regexes compiled, $refs resolved, no $ref cycle
// that would recurse without descending into the instance.

const std::set<std::string> kAnnotations = {"$schema", "$comment", "title", "description", "default", "examples",
                                            "format", "deprecated", "readOnly", "writeOnly", "contentMediaType",
                                            "contentEncoding"};

class SchemaChecker {
 public:
  explicit SchemaChecker(JsonSchema::Compiled& compiled) : compiled_(compiled) {}

  void run() {
    check(compiled_.root, "#", true);
    resolve_pending_refs();
    reject_in_place_cycles();
  }

 private:
  struct PendingRef {
    const json* holder;
    std::string ref;
    std::string where;
  };

  [[noreturn]] static void fail(const std::string& where, const std::string& what) {
    throw SchemaError("invalid schema at " + where + ": " + what);
  }

  void check(const json& schema, const std::string& where, bool is_root) {
    if (schema.is_boolean()) return;
    if (!schema.is_object()) fail(where, "a schema must be an object or a boolean, got " + brief(schema));
    if (!checked_.insert(&schema).second) return;
    for (const auto& [key, value] : schema.items()) check_keyword(schema, key, value, where + "/" + pointer_token(key), is_root);
  }

  void check_keyword(const json& schema, const std::string& key, const json& value, const std::string& at,
                     bool is_root) {
    if (kAnnotations.count(key) || key.rfind("x-", 0) == 0) return;
    if (key == "$id") {
      // An embedded $id would start a new base for $refs; refs here always resolve against the whole document.
      if (!is_root) fail(at, "$id is supported only at the schema root");
      return;
    }
    if (key == "type") return check_type(value, at);
    if (key == "properties" || key == "$defs" || key == "definitions") return check_schema_map(value, at);
    if (key == "required") return check_required(value, at);
    if (key == "additionalProperties" || key == "not") {
      check(value, at, false);
      if (key == "not") in_place_[&schema].push_back(&value);
      return;
    }
    if (key == "items") {
      if (value.is_array()) fail(at, "the array (tuple) form of items is not supported; use prefixItems");
      return check(value, at, false);
    }
    if (key == "prefixItems") return check_schema_array(schema, value, at, false);
    if (key == "allOf" || key == "anyOf" || key == "oneOf") return check_schema_array(schema, value, at, true);
    if (key == "enum") {
      if (!value.is_array()) fail(at, "enum must be an array, got " + brief(value));
      return;
    }
    if (key == "const") return;
    if (key == "minimum" || key == "maximum" || key == "exclusiveMinimum" || key == "exclusiveMaximum") {
      if (!value.is_number()) fail(at, key + " must be a number, got " + brief(value));
      return;
    }
    if (key == "multipleOf") {
      if (!value.is_number() || compare_numbers(value, json(0)) <= 0)
        fail(at, "multipleOf must be a number > 0, got " + brief(value));
      return;
    }
    if (key == "minLength" || key == "maxLength" || key == "minItems" || key == "maxItems") {
      if (!is_integral(value) || compare_numbers(value, json(0)) < 0)
        fail(at, key + " must be a non-negative integer, got " + brief(value));
      return;
    }
    if (key == "uniqueItems") {
      if (!value.is_boolean()) fail(at, "uniqueItems must be a boolean, got " + brief(value));
      return;
    }
    if (key == "pattern") return check_pattern(value, at);
    if (key == "$ref") {
      if (!value.is_string()) fail(at, "$ref must be a string, got " + brief(value));
      pending_.push_back({&schema, value.get<std::string>(), at});
      return;
    }
    fail(at, "unsupported keyword \"" + key +
                 "\" (genplug's validator supports the subset listed in genplug/host/json_schema.hpp)");
  }

  void check_type(const json& value, const std::string& at) {
    const auto known = [&](const json& name) {
      if (!name.is_string() || !kTypeNames.count(name.get<std::string>()))
        fail(at, "type must name one of null, boolean, object, array, number, integer, string; got " + brief(name));
    };
    if (value.is_string()) return known(value);
    if (!value.is_array() || value.empty()) fail(at, "type must be a string or a non-empty array, got " + brief(value));
    std::set<std::string> seen;
    for (const auto& name : value) {
      known(name);
      if (!seen.insert(name.get<std::string>()).second) fail(at, "type lists " + brief(name) + " twice");
    }
  }

  void check_schema_map(const json& value, const std::string& at) {
    if (!value.is_object()) fail(at, "expected an object of schemas, got " + brief(value));
    for (const auto& [name, sub] : value.items()) check(sub, at + "/" + pointer_token(name), false);
  }

  void check_schema_array(const json& schema, const json& value, const std::string& at, bool in_place) {
    if (!value.is_array() || value.empty()) fail(at, "expected a non-empty array of schemas, got " + brief(value));
    for (std::size_t i = 0; i < value.size(); ++i) {
      check(value[i], at + "/" + std::to_string(i), false);
      if (in_place) in_place_[&schema].push_back(&value[i]);
    }
  }

  void check_required(const json& value, const std::string& at) {
    if (!value.is_array()) fail(at, "required must be an array of strings, got " + brief(value));
    std::set<std::string> seen;
    for (const auto& name : value) {
      if (!name.is_string()) fail(at, "required must list strings, got " + brief(name));
      if (!seen.insert(name.get<std::string>()).second) fail(at, "required lists " + brief(name) + " twice");
    }
  }

  void check_pattern(const json& value, const std::string& at) {
    if (!value.is_string()) fail(at, "pattern must be a string, got " + brief(value));
    const auto text = value.get<std::string>();
    if (compiled_.regexes.count(text)) return;
    if (text.size() > kMaxPatternLength)
      fail(at, "pattern " + brief(value) + " has " + std::to_string(text.size()) + " characters; at most " +
                   std::to_string(kMaxPatternLength) + " are checked");
    try {
      compiled_.regexes.emplace(text, std::regex(text, kPatternSyntax));
    } catch (const std::regex_error& error) {
      fail(at, "pattern " + brief(value) + " is not a valid ECMAScript regex: " + error.what());
    }
  }

  // "#", "#/$defs/x", "#/definitions/x", or any other JSON pointer into this document (URI-fragment encoded).
  const json& resolve(const PendingRef& pending) {
    const std::string& ref = pending.ref;
    if (ref.empty() || ref[0] != '#')
      fail(pending.where, "only local $refs (\"#/...\") are supported, got \"" + ref + "\"");
    const std::string pointer = percent_decode(ref.substr(1));
    if (!pointer.empty() && pointer[0] != '/')
      fail(pending.where, "$ref \"" + ref + "\" is an anchor; only JSON pointers (\"#/...\") are supported");
    const json* target = nullptr;
    try {
      target = &compiled_.root.at(json::json_pointer(pointer));
    } catch (const json::exception&) {
      fail(pending.where, "$ref \"" + ref + "\" points to nothing in this schema");
    }
    if (!target->is_object() && !target->is_boolean())
      fail(pending.where, "$ref \"" + ref + "\" points to " + brief(*target) + ", which is not a schema");
    return *target;
  }

  void resolve_pending_refs() {
    // Checking a target that the walk did not reach (e.g. "#/properties/x/items") may add more refs.
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      const PendingRef pending = pending_[i];
      const json& target = resolve(pending);
      check(target, "#" + percent_decode(pending.ref.substr(1)), &target == &compiled_.root);
      compiled_.ref_target[pending.holder] = &target;
      in_place_[pending.holder].push_back(&target);
    }
  }

  // A cycle of $ref/allOf/anyOf/oneOf/not edges would validate the same value forever.
  void reject_in_place_cycles() {
    enum class Mark { visiting, done };
    std::unordered_map<const json*, Mark> marks;
    std::function<void(const json*)> visit = [&](const json* node) {
      marks[node] = Mark::visiting;
      const auto edges = in_place_.find(node);
      if (edges != in_place_.end()) {
        for (const json* next : edges->second) {
          const auto mark = marks.find(next);
          if (mark == marks.end()) visit(next);
          else if (mark->second == Mark::visiting)
            throw SchemaError("invalid schema: a cycle of $ref/allOf/anyOf/oneOf/not never reaches a value (through " +
                              brief(*next) + ")");
        }
      }
      marks[node] = Mark::done;
    };
    for (const auto& entry : in_place_)
      if (!marks.count(entry.first)) visit(entry.first);
  }

  JsonSchema::Compiled& compiled_;
  std::unordered_set<const json*> checked_;
  std::deque<PendingRef> pending_;
  std::unordered_map<const json*, std::vector<const json*>> in_place_;
};

// ---------------------------------------------------------------------------------------------------------------
// Validation

class Validator {
 public:
  explicit Validator(const JsonSchema::Compiled& compiled) : compiled_(compiled) {}

  void validate(const json& schema, const json& value, const std::string& path, std::vector<SchemaViolation>& out) const {
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) out.push_back({path, "no value is allowed here, got " + brief(value)});
      return;
    }
    if (const auto ref = compiled_.ref_target.find(&schema); ref != compiled_.ref_target.end())
      validate(*ref->second, value, path, out);
    if (const auto type = schema.find("type"); type != schema.end()) {
      const auto names = type_list(*type);
      if (std::none_of(names.begin(), names.end(), [&](const std::string& n) { return has_type(value, n); })) {
        out.push_back({path, "expected " + join(names, " or ") + ", got " + brief(value)});
        return;  // the other keywords would only restate the wrong type
      }
    }
    check_enum_const(schema, value, path, out);
    if (value.is_number()) check_number(schema, value, path, out);
    if (value.is_string()) check_string(schema, value, path, out);
    if (value.is_array()) check_array(schema, value, path, out);
    if (value.is_object()) check_object(schema, value, path, out);
    check_combinators(schema, value, path, out);
  }

 private:
  static void check_enum_const(const json& schema, const json& value, const std::string& path,
                               std::vector<SchemaViolation>& out) {
    if (const auto allowed = schema.find("enum"); allowed != schema.end()) {
      if (std::find(allowed->begin(), allowed->end(), value) == allowed->end()) {
        std::vector<std::string> options;
        for (const auto& option : *allowed) options.push_back(brief(option));
        out.push_back({path, (options.size() == 1 ? "expected " : "expected one of ") + join(options, ", ") +
                                 ", got " + brief(value)});
      }
    }
    if (const auto constant = schema.find("const"); constant != schema.end() && *constant != value)
      out.push_back({path, "expected " + brief(*constant) + ", got " + brief(value)});
  }

  static void check_number(const json& schema, const json& value, const std::string& path,
                           std::vector<SchemaViolation>& out) {
    struct Bound {
      const char* keyword;
      const char* relation;
      bool (*holds)(int comparison);
    };
    static const Bound bounds[] = {
        {"minimum", ">=", [](int c) { return c >= 0; }},
        {"exclusiveMinimum", ">", [](int c) { return c > 0; }},
        {"maximum", "<=", [](int c) { return c <= 0; }},
        {"exclusiveMaximum", "<", [](int c) { return c < 0; }},
    };
    for (const auto& bound : bounds) {
      const auto limit = schema.find(bound.keyword);
      if (limit != schema.end() && !bound.holds(compare_numbers(value, *limit)))
        out.push_back({path, std::string("expected number ") + bound.relation + " " + brief(*limit) + ", got " +
                                 brief(value)});
    }
    if (const auto divisor = schema.find("multipleOf"); divisor != schema.end() && !is_multiple_of(value, *divisor))
      out.push_back({path, "expected a multiple of " + brief(*divisor) + ", got " + brief(value)});
  }

  void check_string(const json& schema, const json& value, const std::string& path,
                    std::vector<SchemaViolation>& out) const {
    const auto& text = value.get_ref<const std::string&>();
    const std::size_t length = code_points(text);
    if (const auto min = schema.find("minLength"); min != schema.end() && length < min->get<double>())
      out.push_back({path, "expected a string of at least " + brief(*min) + characters(*min) + ", got " +
                               brief(value) + " (" + std::to_string(length) + ")"});
    if (const auto max = schema.find("maxLength"); max != schema.end() && length > max->get<double>())
      out.push_back({path, "expected a string of at most " + brief(*max) + characters(*max) + ", got " +
                               brief(value) + " (" + std::to_string(length) + ")"});
    if (const auto pattern = schema.find("pattern"); pattern != schema.end()) {
      const auto& regex = compiled_.regexes.at(pattern->get<std::string>());
      if (!std::regex_search(text, regex))
        out.push_back({path, "expected a string matching /" + pattern->get<std::string>() + "/, got " + brief(value)});
    }
  }

  void check_array(const json& schema, const json& value, const std::string& path,
                   std::vector<SchemaViolation>& out) const {
    std::size_t first_unchecked = 0;
    if (const auto prefix = schema.find("prefixItems"); prefix != schema.end()) {
      for (; first_unchecked < prefix->size() && first_unchecked < value.size(); ++first_unchecked)
        validate((*prefix)[first_unchecked], value[first_unchecked], index_path(path, first_unchecked), out);
      first_unchecked = prefix->size();
    }
    if (const auto items = schema.find("items"); items != schema.end())
      for (std::size_t i = first_unchecked; i < value.size(); ++i) validate(*items, value[i], index_path(path, i), out);
    if (const auto min = schema.find("minItems"); min != schema.end() && value.size() < min->get<double>())
      out.push_back({path, "expected at least " + brief(*min) + " items, got " + std::to_string(value.size())});
    if (const auto max = schema.find("maxItems"); max != schema.end() && value.size() > max->get<double>())
      out.push_back({path, "expected at most " + brief(*max) + " items, got " + std::to_string(value.size())});
    if (const auto unique = schema.find("uniqueItems"); unique != schema.end() && unique->get<bool>())
      check_unique(value, path, out);
  }

  static void check_unique(const json& value, const std::string& path, std::vector<SchemaViolation>& out) {
    for (std::size_t i = 0; i < value.size(); ++i)
      for (std::size_t j = i + 1; j < value.size(); ++j)
        if (value[i] == value[j]) {
          out.push_back({path, "expected unique items, got [" + std::to_string(i) + "] and [" + std::to_string(j) +
                                   "] both equal to " + brief(value[i])});
          return;
        }
  }

  void check_object(const json& schema, const json& value, const std::string& path,
                    std::vector<SchemaViolation>& out) const {
    if (const auto required = schema.find("required"); required != schema.end())
      for (const auto& name : *required)
        if (!value.contains(name.get<std::string>()))
          out.push_back({path, "missing required key " + brief(name)});
    const auto properties = schema.find("properties");
    const bool has_properties = properties != schema.end();
    const auto additional = schema.find("additionalProperties");
    for (const auto& [key, member] : value.items()) {
      const std::string member_path = child_path(path, key);
      if (has_properties && properties->contains(key)) {
        validate((*properties)[key], member, member_path, out);
      } else if (additional != schema.end()) {
        if (additional->is_boolean() && !additional->get<bool>())
          out.push_back({path, unknown_key_message(key, has_properties ? &*properties : nullptr)});
        else
          validate(*additional, member, member_path, out);
      }
    }
  }

  static std::string unknown_key_message(const std::string& key, const json* properties) {
    std::string message = "unknown key " + brief(json(key));
    if (!properties || properties->empty()) return message + " (no keys are allowed)";
    std::vector<std::string> allowed;
    std::string suggestion;
    std::size_t best = 3;  // suggest only near misses: at most 2 edits
    for (const auto& [name, unused] : properties->items()) {
      allowed.push_back(name);
      const std::size_t distance = edit_distance(key, name);
      if (distance < best && distance < name.size()) best = distance, suggestion = name;
    }
    if (!suggestion.empty()) message += " (did you mean \"" + suggestion + "\"?)";
    return message + " (allowed: " + join(allowed, ", ") + ")";
  }

  void check_combinators(const json& schema, const json& value, const std::string& path,
                         std::vector<SchemaViolation>& out) const {
    if (const auto all = schema.find("allOf"); all != schema.end())
      for (const auto& sub : *all) validate(sub, value, path, out);
    if (const auto any = schema.find("anyOf"); any != schema.end()) {
      const auto failures = alternatives(*any, value, path);
      if (std::none_of(failures.begin(), failures.end(), [](const auto& f) { return f.empty(); }))
        out.push_back({path, no_alternative_message("anyOf", failures, path)});
    }
    if (const auto one = schema.find("oneOf"); one != schema.end()) {
      const auto failures = alternatives(*one, value, path);
      std::vector<std::string> matching;
      for (std::size_t i = 0; i < failures.size(); ++i)
        if (failures[i].empty()) matching.push_back("#" + std::to_string(i));
      if (matching.empty())
        out.push_back({path, no_alternative_message("oneOf", failures, path)});
      else if (matching.size() > 1)
        out.push_back({path, "expected exactly one alternative of oneOf to match, but " + join(matching, " and ") +
                                 " match " + brief(value)});
    }
    if (const auto negated = schema.find("not"); negated != schema.end()) {
      std::vector<SchemaViolation> inner;
      validate(*negated, value, path, inner);
      if (inner.empty()) out.push_back({path, "expected a value that does not match the \"not\" schema, got " + brief(value)});
    }
  }

  std::vector<std::vector<SchemaViolation>> alternatives(const json& subs, const json& value,
                                                         const std::string& path) const {
    std::vector<std::vector<SchemaViolation>> failures(subs.size());
    for (std::size_t i = 0; i < subs.size(); ++i) validate(subs[i], value, path, failures[i]);
    return failures;
  }

  // When each alternative failed once, here, as "expected X, got V": "expected X or Y, got V". Otherwise the first
  // violation of each alternative.
  static std::string no_alternative_message(const char* keyword,
                                            const std::vector<std::vector<SchemaViolation>>& failures,
                                            const std::string& path) {
    std::vector<std::string> expectations;
    std::string got;
    for (const auto& failure : failures) {
      if (failure.size() != 1 || failure[0].path != path) break;
      const std::string& message = failure[0].message;
      const auto split = message.rfind(", got ");
      if (message.rfind("expected ", 0) != 0 || split == std::string::npos) break;
      if (!got.empty() && message.substr(split) != got) break;
      got = message.substr(split);
      expectations.push_back(message.substr(9, split - 9));
    }
    if (expectations.size() == failures.size()) return "expected " + join(expectations, " or ") + got;

    std::string message = std::string("no alternative of ") + keyword + " matches:";
    for (std::size_t i = 0; i < failures.size(); ++i) {
      const auto& first = failures[i].front();
      message += (i ? "; #" : " #") + std::to_string(i) + ": ";
      if (first.path != path) message += first.path + ": ";
      message += first.message;
      if (failures[i].size() > 1) message += " (and " + std::to_string(failures[i].size() - 1) + " more)";
    }
    return message;
  }

  const JsonSchema::Compiled& compiled_;
};

// ---------------------------------------------------------------------------------------------------------------
// Defaults

class DefaultFiller {
 public:
  explicit DefaultFiller(const JsonSchema::Compiled& compiled) : compiled_(compiled) {}

  void fill(const json& schema, json& value) const {
    if (!schema.is_object()) return;
    if (const auto ref = compiled_.ref_target.find(&schema); ref != compiled_.ref_target.end()) fill(*ref->second, value);
    if (const auto all = schema.find("allOf"); all != schema.end())
      for (const auto& sub : *all) fill(sub, value);
    if (value.is_object()) fill_properties(schema, value);
    if (value.is_array()) fill_items(schema, value);
  }

 private:
  // The default of a property's schema, following $refs (a default may sit on a $defs entry).
  const json* find_default(const json& schema) const {
    const json* current = &schema;
    while (current->is_object()) {
      if (const auto found = current->find("default"); found != current->end()) return &*found;
      const auto ref = compiled_.ref_target.find(current);
      if (ref == compiled_.ref_target.end()) break;
      current = ref->second;
    }
    return nullptr;
  }

  void fill_properties(const json& schema, json& value) const {
    const auto properties = schema.find("properties");
    if (properties == schema.end()) return;
    for (const auto& [name, sub] : properties->items()) {
      if (!value.contains(name))
        if (const json* fallback = find_default(sub)) value[name] = *fallback;
      if (value.contains(name)) fill(sub, value[name]);
    }
  }

  void fill_items(const json& schema, json& value) const {
    std::size_t first = 0;
    if (const auto prefix = schema.find("prefixItems"); prefix != schema.end()) {
      for (; first < prefix->size() && first < value.size(); ++first) fill((*prefix)[first], value[first]);
      first = prefix->size();
    }
    if (const auto items = schema.find("items"); items != schema.end())
      for (std::size_t i = first; i < value.size(); ++i) fill(*items, value[i]);
  }

  const JsonSchema::Compiled& compiled_;
};

}  // namespace

// -----------------------------------------------------------------------------------------------------------------

std::string to_string(const SchemaViolation& violation) {
  return violation.path.empty() ? violation.message : violation.path + ": " + violation.message;
}

std::string to_string(const std::vector<SchemaViolation>& violations) {
  std::string text;
  for (const auto& violation : violations) text += to_string(violation) + "\n";
  return text;
}

JsonSchema::JsonSchema(json schema) {
  auto compiled = std::make_shared<Compiled>();
  compiled->root = std::move(schema);  // placed before the walk: the checker keeps addresses into it
  SchemaChecker(*compiled).run();
  compiled_ = std::move(compiled);
}

std::vector<SchemaViolation> JsonSchema::validate(const json& instance, const std::string& root_name) const {
  std::vector<SchemaViolation> violations;
  Validator(*compiled_).validate(compiled_->root, instance, root_name, violations);
  return violations;
}

json JsonSchema::with_defaults(json instance) const {
  DefaultFiller(*compiled_).fill(compiled_->root, instance);
  return instance;
}

const json& JsonSchema::schema() const { return compiled_->root; }

}  // namespace genplug::host
