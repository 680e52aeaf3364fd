// Runs the official JSON-Schema-Test-Suite (Debian package json-schema-test-suite) against genplug's validator for
// the keywords genplug supports. A group whose schema uses something outside the subset must be rejected with
// SchemaError (never silently half-checked); its cases count as skipped. Everything else must pass.
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "genplug/host/json_schema.hpp"

namespace fs = std::filesystem;
using genplug::host::JsonSchema;
using genplug::host::SchemaError;
using json = nlohmann::json;

namespace {

fs::path suite_root() {
  if (const char* env = std::getenv("GENPLUG_SCHEMA_TEST_SUITE"); env && *env) return env;
  return GENPLUG_SCHEMA_TEST_SUITE_DEFAULT;
}

// The newest draft the installed suite has (Debian 12's 2.0.0 stops at draft7).
std::string pick_draft(const fs::path& root) {
  for (const char* draft : {"draft2020-12", "draft2019-09", "draft7"})
    if (fs::is_directory(root / "tests" / draft)) return draft;
  return "";
}

// One file per supported keyword (the brief's list); all must exist in the chosen draft.
const std::vector<std::string> kKeywordFiles = {
    "type", "properties", "required", "additionalProperties", "enum", "const", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern", "items", "minItems",
    "maxItems", "uniqueItems", "anyOf", "oneOf", "allOf", "not", "ref"};
// Run too where the draft has them.
const std::vector<std::string> kOptionalFiles = {"prefixItems", "boolean_schema", "default", "definitions", "defs",
                                                 "optional/zeroTerminatedFloats", "optional/bignum",
                                                 "optional/float-overflow"};

// The test's own statement of the supported subset, independent of the validator's code.
const std::set<std::string> kAssertions = {
    "type", "properties", "required", "additionalProperties", "enum", "const", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern", "items",
    "prefixItems", "minItems", "maxItems", "uniqueItems", "anyOf", "oneOf", "allOf", "not", "$defs", "definitions",
    "$ref"};
const std::set<std::string> kAnnotations = {"$schema", "$comment", "title", "description", "default", "examples",
                                            "format", "deprecated", "readOnly", "writeOnly"};

struct Verdict {
  std::string must_reject;  // why JsonSchema must throw SchemaError ("" when it must accept)
  std::string skip;         // why the cases cannot be compared (draft semantics genplug does not follow)
};

void scan(const json& schema, bool is_root, bool draft7_refs, Verdict& verdict) {
  if (!schema.is_object()) return;
  const auto reject = [&](const std::string& why) {
    if (verdict.must_reject.empty()) verdict.must_reject = why;
  };
  for (const auto& [key, value] : schema.items()) {
    if (key == "properties" || key == "$defs" || key == "definitions") {
      if (value.is_object())
        for (const auto& [name, sub] : value.items()) scan(sub, false, draft7_refs, verdict);
    } else if (key == "items" && value.is_array()) {
      reject("items in tuple form");
    } else if (key == "items" || key == "additionalProperties" || key == "not") {
      scan(value, false, draft7_refs, verdict);
    } else if (key == "allOf" || key == "anyOf" || key == "oneOf" || key == "prefixItems") {
      for (const auto& sub : value) scan(sub, false, draft7_refs, verdict);
    } else if (key == "$ref") {
      const auto ref = value.get<std::string>();
      if (ref != "#" && ref.rfind("#/", 0) != 0) reject("non-local or anchor $ref");
      for (const auto& [sibling, unused] : schema.items())
        if (draft7_refs && sibling != "$ref" && sibling != "$defs" && sibling != "definitions" &&
            !kAnnotations.count(sibling) && verdict.skip.empty())
          verdict.skip = "draft-7 $ref ignores its siblings (genplug applies them, as 2019-09+)";
    } else if (key == "$id") {
      if (!is_root) reject("embedded $id");
    } else if (!kAssertions.count(key) && !kAnnotations.count(key)) {
      reject("keyword " + key);
    }
  }
}

struct Tally {
  int files = 0, groups_run = 0, cases_run = 0, cases_rejected = 0, cases_skipped = 0, failures = 0;
  std::map<std::string, int> reasons;  // reason -> cases not run
};

void run_group(const std::string& file, const json& group, bool draft7_refs, Tally& tally) {
  const json& schema = group.at("schema");
  const auto& cases = group.at("tests");
  const std::string where = file + " / " + group.at("description").get<std::string>();
  Verdict verdict;
  scan(schema, true, draft7_refs, verdict);

  if (!verdict.must_reject.empty()) {
    BOOST_CHECK_MESSAGE(([&] {
                          try {
                            JsonSchema rejected(schema);
                          } catch (const SchemaError&) {
                            return true;
                          }
                          return false;
                        }()),
                        where << ": schema uses " << verdict.must_reject << " but was accepted");
    tally.cases_rejected += static_cast<int>(cases.size());
    tally.reasons["rejected with SchemaError: " + verdict.must_reject] += static_cast<int>(cases.size());
    return;
  }
  if (!verdict.skip.empty()) {
    tally.cases_skipped += static_cast<int>(cases.size());
    tally.reasons["skipped: " + verdict.skip] += static_cast<int>(cases.size());
    return;
  }

  std::unique_ptr<JsonSchema> validator;
  try {
    validator = std::make_unique<JsonSchema>(schema);
  } catch (const std::exception& error) {
    BOOST_ERROR(where << ": supported schema rejected: " << error.what());
    tally.failures += static_cast<int>(cases.size());
    return;
  }
  ++tally.groups_run;
  for (const auto& test_case : cases) {
    ++tally.cases_run;
    const bool expected = test_case.at("valid").get<bool>();
    const auto violations = validator->validate(test_case.at("data"), "data");
    if (violations.empty() != expected) {
      ++tally.failures;
      BOOST_ERROR(where << " / " << test_case.at("description").get<std::string>() << ": data "
                        << test_case.at("data").dump() << " expected " << (expected ? "valid" : "invalid")
                        << ", got:\n" << genplug::host::to_string(violations));
    }
    for (const auto& violation : violations) BOOST_CHECK(!violation.message.empty());
  }
}

json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return json::parse(in);
}

}  // namespace

BOOST_AUTO_TEST_CASE(official_test_suite_passes_for_supported_keywords) {
  const fs::path root = suite_root();
  const std::string draft = pick_draft(root);
  BOOST_REQUIRE_MESSAGE(!draft.empty(), "no JSON-Schema-Test-Suite at " << root.string()
                                                                        << " (apt install json-schema-test-suite, or "
                                                                           "set GENPLUG_SCHEMA_TEST_SUITE)");
  const fs::path tests = root / "tests" / draft;
  const bool draft7_refs = draft == "draft7";

  Tally tally;
  std::vector<std::string> files = kKeywordFiles;
  for (const auto& name : kKeywordFiles)
    BOOST_CHECK_MESSAGE(fs::exists(tests / (name + ".json")), "suite lacks " << draft << "/" << name << ".json");
  for (const auto& name : kOptionalFiles)
    if (fs::exists(tests / (name + ".json"))) files.push_back(name);

  for (const auto& name : files) {
    const fs::path path = tests / (name + ".json");
    if (!fs::exists(path)) continue;
    ++tally.files;
    for (const auto& group : read_json(path)) run_group(name, group, draft7_refs, tally);
  }

  std::cout << "JSON-Schema-Test-Suite " << root.string() << " " << draft << ": " << tally.files << " files, "
            << tally.cases_run << " cases run in " << tally.groups_run << " groups, " << tally.failures
            << " failed; " << tally.cases_rejected + tally.cases_skipped << " cases not run:\n";
  for (const auto& [reason, count] : tally.reasons) std::cout << "  " << count << "  " << reason << "\n";

  BOOST_TEST(tally.cases_run > 0);
  BOOST_TEST(tally.failures == 0);
}
