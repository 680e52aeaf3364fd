// genplug host — a JSON Schema validator for the subset of keywords genplug's schemas use (plugin config schemas
// and the manifest schema). Validation reports every violation with the instance location and a message that says
// what was expected and what was found, e.g. `config.lambda_s: expected number >= 0, got -1`.
//
// Supported: $schema $id $comment title description default examples (annotations), type, properties, required,
// additionalProperties, enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum (numeric form),
// multipleOf, minLength, maxLength, pattern, items (one schema), prefixItems, minItems, maxItems, uniqueItems,
// anyOf, oneOf, allOf, not, $defs/definitions and local "$ref": "#/..." (siblings of $ref apply, as in
// draft 2019-09 and later). Annotation-only keywords (format, deprecated, readOnly, writeOnly, x-*) are ignored;
// any other keyword is rejected when the schema is constructed, so a schema never silently checks less than it says.
//
// `pattern` runs on std::regex in libstdc++'s polynomial mode (a breadth-first matcher: time linear in the string,
// stack bounded by the pattern), since its default depth-first matcher recurses once per character or more (a
// 26 000-character string overflowed an 8 MiB stack against `^[a-z]+$`) and backtracks exponentially (`^(a+)+$`).
// Back-references, which that mode cannot match, are a schema error; so is a pattern over kMaxPatternLength
// characters (the compiler recurses per nested group: 200 000 of them overflowed the stack).
#pragma once
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace genplug::host {

inline constexpr std::size_t kMaxPatternLength = 1024;

// The schema itself is malformed or uses a keyword outside the supported set. The message names the keyword and
// its location in the schema as a JSON pointer ("#/properties/width").
class SchemaError : public std::runtime_error {
 public:
  explicit SchemaError(const std::string& message) : std::runtime_error(message) {}
};

struct SchemaViolation {
  std::string path;     // instance location, dotted: "config.method", "jobs[2].width"; "" is the root
  std::string message;  // what was expected and what was found
};

// "path: message", or just the message for a violation at an unnamed root.
std::string to_string(const SchemaViolation& violation);

// One violation per line, each as to_string.
std::string to_string(const std::vector<SchemaViolation>& violations);

class JsonSchema {
 public:
  // Checks the schema (keywords, their value types, regexes, $ref targets, $ref cycles); throws SchemaError.
  explicit JsonSchema(nlohmann::json schema);

  // All violations of `instance`, in a deterministic order (schema keyword order, then sorted keys). An empty
  // result means the instance is valid. Paths start with root_name ("config", "jobs[0]"), or with the first key.
  std::vector<SchemaViolation> validate(const nlohmann::json& instance, const std::string& root_name = "") const;

  bool is_valid(const nlohmann::json& instance) const { return validate(instance).empty(); }

  // `instance` with the `default` of every absent property filled in, recursively through properties (and $ref,
  // allOf, and items of arrays). Only objects gain keys; nothing present is changed.
  nlohmann::json with_defaults(nlohmann::json instance) const;

  const nlohmann::json& schema() const;

  struct Compiled;  // the checked schema, regexes and resolved $refs; shared between copies

 private:
  std::shared_ptr<const Compiled> compiled_;
};

}  // namespace genplug::host
