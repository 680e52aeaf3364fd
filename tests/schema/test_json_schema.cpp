// genplug's JSON Schema validator: exact violation paths and messages, defaults, and SchemaError for schemas
// outside the supported subset. (The official test suite runs in test_schema_suite.cpp.)
#define BOOST_TEST_MODULE json_schema
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "genplug/host/json_schema.hpp"

using genplug::host::JsonSchema;
using genplug::host::SchemaError;
using genplug::host::SchemaViolation;
using genplug::host::to_string;
using json = nlohmann::json;

namespace {

// Each violation as "path: message", in the validator's order.
std::vector<std::string> lines(const JsonSchema& schema, const json& instance, const std::string& root = "") {
  std::vector<std::string> out;
  for (const auto& violation : schema.validate(instance, root)) out.push_back(to_string(violation));
  return out;
}

using Lines = std::vector<std::string>;

// The SchemaError message for `schema`, or "" when it was accepted.
std::string schema_error(const json& schema) {
  try {
    JsonSchema accepted(schema);
  } catch (const SchemaError& error) {
    return error.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(messages)

BOOST_AUTO_TEST_CASE(minimum_names_path_bound_and_value) {
  const JsonSchema schema(json::parse(R"({"type": "object", "properties": {"lambda_s": {"type": "number", "minimum": 0}}})"));
  const auto violations = schema.validate(json{{"lambda_s", -1}}, "config");
  BOOST_REQUIRE_EQUAL(violations.size(), 1u);
  BOOST_TEST(violations[0].path == "config.lambda_s");
  BOOST_TEST(violations[0].message == "expected number >= 0, got -1");
  BOOST_TEST(to_string(violations[0]) == "config.lambda_s: expected number >= 0, got -1");
  BOOST_TEST(schema.validate(json{{"lambda_s", 0}}, "config").empty());
  BOOST_TEST(schema.validate(json{{"lambda_s", 0.5}}, "config").empty());
}

BOOST_AUTO_TEST_CASE(all_four_bounds_and_multiple_of) {
  const JsonSchema schema(json::parse(
      R"({"properties": {"a": {"exclusiveMinimum": 0}, "b": {"maximum": 1.5}, "c": {"exclusiveMaximum": 10},
                         "d": {"multipleOf": 0.25}}})"));
  BOOST_TEST(lines(schema, json::parse(R"({"a": 0, "b": 2, "c": 10, "d": 0.3})")) ==
                 (Lines{"a: expected number > 0, got 0", "b: expected number <= 1.5, got 2",
                        "c: expected number < 10, got 10", "d: expected a multiple of 0.25, got 0.3"}),
             boost::test_tools::per_element());
  BOOST_TEST(lines(schema, json::parse(R"({"a": 1e-9, "b": 1.5, "c": 9.99, "d": 0.75})")).empty());
}

BOOST_AUTO_TEST_CASE(unknown_key_lists_allowed_keys_and_suggests_near_miss) {
  const JsonSchema schema(json::parse(R"({"type": "array", "items": {"type": "object", "additionalProperties": false,
      "properties": {"prompt": {"type": "string"}, "width": {"type": "integer"}, "height": {"type": "integer"}}}})"));
  BOOST_TEST(lines(schema, json::parse(R"([{"prompt": "a"}, {"prompt": "b", "widht": 3}, {"zzzzzz": 1}])"), "jobs") ==
                 (Lines{R"(jobs[1]: unknown key "widht" (did you mean "width"?) (allowed: height, prompt, width))",
                        R"(jobs[2]: unknown key "zzzzzz" (allowed: height, prompt, width))"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(type_mismatch_shows_expected_type_and_value) {
  const JsonSchema schema(json::parse(R"({"properties": {"plugin": {"type": "string"}, "n": {"type": ["integer", "null"]}}})"));
  BOOST_TEST(lines(schema, json::parse(R"({"plugin": 3, "n": 1.5})"), "model") ==
                 (Lines{"model.n: expected integer or null, got 1.5", "model.plugin: expected string, got 3"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(integer_accepts_integral_floats) {
  const JsonSchema schema(json{{"type", "integer"}});
  BOOST_TEST(schema.validate(json::parse("1.0")).empty());
  BOOST_TEST(schema.validate(json::parse("-7")).empty());
  BOOST_TEST(lines(schema, json::parse("1.5")) == Lines{"expected integer, got 1.5"}, boost::test_tools::per_element());
  BOOST_TEST(lines(schema, json("1")) == Lines{"expected integer, got \"1\""}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(required_enum_const_and_root_without_name) {
  const JsonSchema schema(json::parse(R"({"type": "object", "required": ["method", "steps"],
      "properties": {"schedule": {"enum": ["linear", "cosine"]}, "version": {"const": 2}}})"));
  BOOST_TEST(lines(schema, json::parse(R"({"steps": 4, "schedule": "cubic", "version": 3})"), "config") ==
                 (Lines{R"(config: missing required key "method")",
                        R"(config.schedule: expected one of "linear", "cosine", got "cubic")",
                        "config.version: expected 2, got 3"}),
             boost::test_tools::per_element());
  const auto at_root = JsonSchema(json{{"type", "object"}}).validate(json::array());
  BOOST_REQUIRE_EQUAL(at_root.size(), 1u);
  BOOST_TEST(at_root[0].path == "");
  BOOST_TEST(to_string(at_root[0]) == "expected object, got []");
}

BOOST_AUTO_TEST_CASE(strings_count_code_points_and_match_patterns) {
  const JsonSchema schema(json::parse(
      R"({"properties": {"name": {"maxLength": 2}, "id": {"minLength": 3, "pattern": "^[a-z]+$"}}})"));
  BOOST_TEST(schema.validate(json{{"name", "\xc3\xa9\xc3\xa9"}}).empty());  // "éé": 4 bytes, 2 characters
  BOOST_TEST(lines(schema, json{{"name", "\xc3\xa9\xc3\xa9\xc3\xa9"}, {"id", "A"}}) ==
                 (Lines{"id: expected a string of at least 3 characters, got \"A\" (1)",
                        "id: expected a string matching /^[a-z]+$/, got \"A\"",
                        "name: expected a string of at most 2 characters, got \"\xc3\xa9\xc3\xa9\xc3\xa9\" (3)"}),
             boost::test_tools::per_element());
}

// std::regex's default matcher recursed per character (SIGSEGV at 26 000 characters against ^[a-z]+$, in the
// host's own code) and backtracked exponentially (^(a+)+$: 9 s against 28 a's and a b, twice that per a more);
// patterns now match in polynomial mode. Back-references, which it cannot match, and over-long patterns (whose
// compiling recursed per group) are schema errors.
BOOST_AUTO_TEST_CASE(patterns_match_long_strings_in_linear_time_and_refuse_back_references) {
  const JsonSchema schema(
      json::parse(R"({"properties": {"id": {"pattern": "^[a-z]+$"}, "x": {"pattern": "^(a+)+$"}}})"));
  BOOST_TEST(schema.validate(json{{"id", std::string(1000000, 'a')}}).empty());
  const Lines wrong = lines(schema, json{{"id", std::string(1000000, 'a') + "A"}, {"x", std::string(5000, 'a') + "b"}});
  BOOST_TEST_REQUIRE(wrong.size() == 2u);
  BOOST_TEST(wrong[0].rfind("id: expected a string matching /^[a-z]+$/, got \"aaa", 0) == 0, wrong[0]);
  BOOST_TEST(wrong[1].rfind("x: expected a string matching /^(a+)+$/, got \"aaa", 0) == 0, wrong[1]);
  // Deeply nested groups within the length bound compile and match.
  const std::string deep = "^" + std::string(500, '(') + "a" + std::string(500, ')') + "*$";
  BOOST_TEST(JsonSchema(json{{"pattern", deep}}).validate(json(std::string(2048, 'a'))).empty());

  using genplug::host::kMaxPatternLength;
  BOOST_TEST(contains(schema_error(json{{"pattern", "^(a)\\1$"}}), "not a valid ECMAScript regex"));
  BOOST_TEST(schema_error(json{{"pattern", std::string(kMaxPatternLength, 'a')}}).empty());
  BOOST_TEST(contains(schema_error(json{{"pattern", std::string(kMaxPatternLength + 1, 'a')}}),
                      "has " + std::to_string(kMaxPatternLength + 1) + " characters"));
  BOOST_TEST(contains(schema_error(json{{"pattern", std::string(200000, '(') + std::string(200000, ')')}}),
                      "characters; at most"));
}

BOOST_AUTO_TEST_CASE(arrays_report_counts_and_duplicates) {
  const JsonSchema schema(json::parse(
      R"({"type": "array", "minItems": 2, "maxItems": 3, "uniqueItems": true, "items": {"type": "number"}})"));
  BOOST_TEST(lines(schema, json::parse("[1]"), "sizes") == Lines{"sizes: expected at least 2 items, got 1"},
             boost::test_tools::per_element());
  BOOST_TEST(lines(schema, json::parse(R"([1, "x", 2, 1.0])"), "sizes") ==
                 (Lines{"sizes[1]: expected number, got \"x\"", "sizes: expected at most 3 items, got 4",
                        "sizes: expected unique items, got [0] and [3] both equal to 1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(odd_keys_use_bracket_paths) {
  const JsonSchema schema(json::parse(R"({"additionalProperties": {"type": "integer"}})"));
  BOOST_TEST(lines(schema, json{{"a b", "x"}, {"ok_key", 1}}, "config") ==
                 Lines{R"(config["a b"]: expected integer, got "x")"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(combinators_explain_each_alternative) {
  const JsonSchema either(json::parse(R"({"anyOf": [{"type": "integer"}, {"enum": ["auto"]}]})"));
  BOOST_TEST(either.validate(json("auto")).empty());
  BOOST_TEST(either.validate(json(3)).empty());
  BOOST_TEST(lines(either, json("x"), "seed") == Lines{R"(seed: expected integer or "auto", got "x")"},
             boost::test_tools::per_element());

  const JsonSchema shapes(json::parse(R"({"oneOf": [
      {"type": "object", "required": ["a"]},
      {"type": "object", "properties": {"b": {"type": "string"}}, "required": ["b"]}]})"));
  BOOST_TEST(lines(shapes, json{{"b", 1}}, "x") ==
                 Lines{R"(x: no alternative of oneOf matches: #0: missing required key "a"; #1: x.b: expected string, got 1)"},
             boost::test_tools::per_element());
  BOOST_TEST(lines(shapes, json{{"a", 1}, {"b", "s"}}, "x") ==
                 Lines{R"(x: expected exactly one alternative of oneOf to match, but #0 and #1 match {"a":1,"b":"s"})"},
             boost::test_tools::per_element());

  const JsonSchema negated(json::parse(R"({"not": {"const": 0}})"));
  BOOST_TEST(lines(negated, json(0), "d") == Lines{R"(d: expected a value that does not match the "not" schema, got 0)"},
             boost::test_tools::per_element());
  BOOST_TEST(JsonSchema(json::parse(R"({"allOf": [{"minimum": 1}, {"maximum": 2}]})")).validate(json(5)).size() == 1u);
}

BOOST_AUTO_TEST_CASE(refs_resolve_defs_definitions_and_recursion) {
  const JsonSchema schema(json::parse(R"({
      "$defs": {"size": {"type": "integer", "minimum": 64}},
      "definitions": {"node": {"type": "object", "additionalProperties": false,
                               "properties": {"child": {"$ref": "#/definitions/node"}, "w": {"$ref": "#/$defs/size"}}}},
      "$ref": "#/definitions/node"})"));
  BOOST_TEST(schema.validate(json::parse(R"({"child": {"child": {"w": 64}}})")).empty());
  BOOST_TEST(lines(schema, json::parse(R"({"child": {"child": {"w": 8, "q": 1}}})"), "tree") ==
                 (Lines{R"(tree.child.child: unknown key "q" (allowed: child, w))",
                        "tree.child.child.w: expected number >= 64, got 8"}),
             boost::test_tools::per_element());
  // $ref siblings apply (2019-09+): maxItems is checked next to the reference.
  const JsonSchema with_sibling(json::parse(R"({"$defs": {"list": {"type": "array"}}, "$ref": "#/$defs/list", "maxItems": 1})"));
  BOOST_TEST(lines(with_sibling, json::parse("[1, 2]")) == Lines{"expected at most 1 items, got 2"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(ref_pointers_unescape_tilde_slash_and_percent) {
  const JsonSchema schema(json::parse(R"({
      "$defs": {"tilda~field": {"type": "integer"}, "slash/field": {"type": "integer"}, "percent%field": {"type": "integer"}},
      "properties": {"tilda": {"$ref": "#/$defs/tilda~0field"}, "slash": {"$ref": "#/$defs/slash~1field"},
                     "percent": {"$ref": "#/$defs/percent%25field"}}})"));
  BOOST_TEST(schema.validate(json{{"tilda", 1}, {"slash", 2}, {"percent", 3}}).empty());
  BOOST_TEST(lines(schema, json{{"tilda", "a"}, {"slash", "b"}, {"percent", "c"}}) ==
                 (Lines{R"(percent: expected integer, got "c")", R"(slash: expected integer, got "b")",
                        R"(tilda: expected integer, got "a")"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(large_integers_compare_exactly) {
  // 2^53 + 1 and 2^53 + 2 are the same double; the bound must still tell them apart.
  const JsonSchema schema(json::parse(R"({"maximum": 9007199254740993})"));
  BOOST_TEST(schema.validate(json::parse("9007199254740993")).empty());
  BOOST_TEST(schema.validate(json::parse("9007199254740994")).size() == 1u);
  BOOST_TEST(JsonSchema(json::parse(R"({"minimum": -1})")).validate(json::parse("18446744073709551615")).empty());
  BOOST_TEST(JsonSchema(json::parse(R"({"maximum": -1})")).validate(json::parse("18446744073709551615")).size() == 1u);
}

BOOST_AUTO_TEST_CASE(copies_outlive_the_original) {
  std::unique_ptr<JsonSchema> original = std::make_unique<JsonSchema>(
      json::parse(R"({"properties": {"next": {"$ref": "#"}, "v": {"type": "string"}}})"));
  const JsonSchema copy = *original;
  original.reset();
  BOOST_TEST(lines(copy, json::parse(R"({"next": {"next": {"v": 1}}})")) == Lines{"next.next.v: expected string, got 1"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(defaults)

BOOST_AUTO_TEST_CASE(fills_absent_properties_recursively) {
  const JsonSchema schema(json::parse(R"({
      "$defs": {"steps": {"type": "integer", "default": 28}},
      "properties": {
        "method": {"type": "string", "default": "yarn"},
        "steps": {"$ref": "#/$defs/steps"},
        "sampler": {"type": "object", "default": {},
                    "properties": {"shift": {"default": 3.0}, "eta": {"default": 0}}},
        "untouched": {"type": "object", "properties": {"x": {"default": 1}}},
        "jobs": {"type": "array", "items": {"properties": {"width": {"default": 1024}}}}
      }})"));
  const json filled = schema.with_defaults(json::parse(R"({"method": "ntk", "sampler": {"eta": 0.5},
                                                            "jobs": [{}, {"width": 512}]})"));
  BOOST_TEST(filled == json::parse(R"({"method": "ntk", "steps": 28, "sampler": {"shift": 3.0, "eta": 0.5},
                                      "jobs": [{"width": 1024}, {"width": 512}]})"),
             filled.dump());
  const json from_empty = schema.with_defaults(json::object());
  BOOST_TEST(from_empty == json::parse(R"({"method": "yarn", "steps": 28, "sampler": {"shift": 3.0, "eta": 0}})"),
             from_empty.dump());
  BOOST_TEST(schema.with_defaults(json(5)) == json(5));  // not an object: nothing to fill
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(schema_errors)

BOOST_AUTO_TEST_CASE(unsupported_keywords_are_named_with_location) {
  const auto message = schema_error(json::parse(R"({"properties": {"x": {"patternProperties": {"^a": {}}}}})"));
  BOOST_TEST(contains(message, "\"patternProperties\""), message);
  BOOST_TEST(contains(message, "#/properties/x/patternProperties"), message);
  for (const char* keyword : {"if", "dependencies", "additionalItems", "contains", "propertyNames", "minProperties",
                              "unevaluatedProperties", "$anchor", "typo"}) {
    const auto error = schema_error(json{{keyword, json::object()}});
    BOOST_TEST(contains(error, std::string("\"") + keyword + "\""), keyword << ": " << error);
  }
}

BOOST_AUTO_TEST_CASE(malformed_keyword_values_are_rejected) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {R"({"items": [{"type": "integer"}]})", "prefixItems"},
      {R"({"type": "float"})", "type must name"},
      {R"({"minimum": "0"})", "minimum must be a number"},
      {R"({"multipleOf": 0})", "multipleOf must be a number > 0"},
      {R"({"maxLength": -1})", "maxLength must be a non-negative integer"},
      {R"({"required": "a"})", "required must be an array"},
      {R"({"pattern": "(unclosed"})", "not a valid ECMAScript regex"},
      {R"({"anyOf": []})", "non-empty array"},
      {R"({"properties": {"a": 3}})", "#/properties/a"},
      {R"({"$ref": "other.json#/a"})", "only local $refs"},
      {R"({"$ref": "#anchor"})", "anchor"},
      {R"({"$ref": "#/$defs/missing"})", "points to nothing"},
      {R"({"required": ["a"], "$ref": "#/required"})", "not a schema"},
      {R"({"properties": {"a": {"$id": "http://x/a"}}})", "$id is supported only at the schema root"},
      {R"({"$ref": "#"})", "cycle"},
      {R"({"$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"not": {"$ref": "#/$defs/a"}}}, "$ref": "#/$defs/a"})",
       "cycle"},
  };
  for (const auto& [schema, expected] : cases) {
    const auto message = schema_error(json::parse(schema));
    BOOST_TEST(contains(message, expected), schema << " -> \"" << message << "\"");
  }
}

BOOST_AUTO_TEST_CASE(annotations_are_accepted_and_ignored) {
  const JsonSchema schema(json::parse(R"({"$schema": "https://json-schema.org/draft/2020-12/schema",
      "$id": "https://genplug/x", "$comment": "c", "title": "t", "description": "d", "examples": [1],
      "format": "uri", "deprecated": true, "readOnly": true, "x-ui": {"widget": "slider"}, "type": "string"})"));
  BOOST_TEST(schema.validate(json("not a uri")).empty());
  BOOST_TEST(schema.validate(json(1)).size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(project_schemas)

// The manifest schema must stay inside the supported subset: the host constructs it at every run.
BOOST_AUTO_TEST_CASE(manifest_schema_is_in_the_supported_subset) {
  const std::string path = std::string(GENPLUG_SOURCE_DIR) + "/host/manifest.schema.json";
  std::ifstream in(path);
  BOOST_REQUIRE_MESSAGE(in, "cannot open " << path);
  const json manifest_schema = json::parse(in);
  BOOST_TEST(schema_error(manifest_schema) == "");
  const JsonSchema schema(manifest_schema);
  BOOST_TEST(!schema.validate(json::object(), "manifest").empty());  // it requires keys, so {} cannot pass
}

BOOST_AUTO_TEST_SUITE_END()
