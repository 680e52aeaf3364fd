// The plugin's descriptor, its config schema, and create() refusing bad configs with the field named.
#define BOOST_TEST_MODULE flowmatch_config
#include <boost/test/unit_test.hpp>

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flowmatch_plugin.hpp"

using namespace genplug;
using namespace genplug::test;
using nlohmann::json;

namespace {

// The JSON Schema keywords the project's schema subset allows (docs/manifest.md).
const std::set<std::string> kAllowedKeywords = {
    "$schema", "title",   "description", "type",    "properties",       "required",         "additionalProperties",
    "enum",    "const",   "default",     "minimum", "maximum",          "exclusiveMinimum", "exclusiveMaximum",
    "items",   "minItems", "maxItems",   "anyOf",   "oneOf"};

void check_keywords(const json& schema, const std::string& where, std::vector<std::string>& bad) {
  if (!schema.is_object()) return;
  for (const auto& [key, value] : schema.items()) {
    if (!kAllowedKeywords.count(key)) bad.push_back(where + "/" + key);
    if (key == "properties")
      for (const auto& [name, sub] : value.items()) check_keywords(sub, where + "/properties/" + name, bad);
    else if (key == "items")
      check_keywords(value, where + "/items", bad);
    else if (key == "anyOf" || key == "oneOf")
      for (size_t i = 0; i < value.size(); ++i) check_keywords(value[i], where + "/" + key + "/" + std::to_string(i), bad);
  }
}

json schema() { return json::parse(FlowmatchLibrary::get()->descriptor().config_schema); }

}  // namespace

BOOST_AUTO_TEST_CASE(descriptor_identifies_the_plugin) {
  const genplug_descriptor_t& d = FlowmatchLibrary::get()->descriptor();
  BOOST_TEST(std::string(d.id) == "org.genplug.flowmatch");
  BOOST_TEST(std::string(d.version) == "1.0.0");
  std::set<std::string> features;
  for (const char* const* f = d.features; *f; ++f) features.insert(*f);
  for (const char* f : {"sampler:euler", "sampler:heun", "sampler:dpmpp-2m", "sampler:euler-ancestral", "schedule:flux"})
    BOOST_TEST(features.count(f) == 1u, f);
}

BOOST_AUTO_TEST_CASE(schema_uses_only_the_allowed_keywords) {
  const json s = schema();
  std::vector<std::string> bad;
  check_keywords(s, "#", bad);
  BOOST_TEST(bad.empty(), "keywords outside the subset: " << json(bad).dump());
  BOOST_TEST(s.at("type") == "object");
  BOOST_TEST(s.at("additionalProperties") == false);
  for (const auto& [name, property] : s.at("properties").items())
    BOOST_TEST(property.contains("description"), name << " has no description");
}

// The schema's enums are exactly what create() accepts.
BOOST_AUTO_TEST_CASE(schema_enums_are_accepted) {
  const json props = schema().at("properties");
  for (const char* field : {"schedule", "sampler", "spacing", "precision"}) {
    for (const json& value : props.at(field).at("enum")) {
      json config = {{field, value}};
      if (value == "custom") config["sigmas"] = {1.0, 0.5, 0.0};
      CallContext ctx;
      genplug_scheduler_t* raw = nullptr;
      const genplug_status st = FlowmatchLibrary::get()->create_raw(config.dump(), ctx, &raw);
      BOOST_TEST(st == GENPLUG_OK, config.dump() << ": " << ctx.error());
      if (raw) raw->destroy(raw);
    }
  }
  // Every default in the schema, written out, equals "{}".
  json defaults = json::object();
  for (const auto& [name, property] : props.items())
    if (property.contains("default") && name != "eta") defaults[name] = property["default"];
  SchedulerProxy a = make_scheduler("{}"), b = make_scheduler(defaults.dump());
  CallContext ctx;
  BOOST_TEST(a.sigmas(28, 4096, ctx) == b.sigmas(28, 4096, ctx));
}

BOOST_AUTO_TEST_CASE(bad_configs_fail_at_create_naming_the_field) {
  struct Case {
    std::string config;
    std::string field;  // must appear in the message
  };
  const std::vector<Case> cases = {
      {R"({"schedule":"karras"})", "config.schedule"},
      {R"({"schedule":3})", "config.schedule"},
      {R"({"sampler":"lms"})", "config.sampler"},
      {R"({"steps":0})", "config.steps"},
      // As in manifests (JSON keeps the last value only, and the first was meant too).
      {R"({"steps":4,"steps":8})",
       R"(config: the key "steps" appears twice in one object (JSON keeps the last value only))"},
      {R"({"steps":-3})", "config.steps"},
      {R"({"steps":2.5})", "config.steps"},
      {R"({"steps":"28"})", "config.steps"},
      {R"({"schedule":"custom","sigmas":[1,0.5,0.6,0]})", "config.sigmas[2]"},
      {R"({"schedule":"custom","sigmas":[1,0.5,0.5,0]})", "config.sigmas[2]"},
      {R"({"schedule":"custom","sigmas":[1,0.5,0.2]})", "config.sigmas[2]"},
      {R"({"schedule":"custom","sigmas":[1.5,0.5,0]})", "config.sigmas[0]"},
      {R"({"schedule":"custom","sigmas":[1,"x",0]})", "config.sigmas[1]"},
      {R"({"schedule":"custom","sigmas":[0]})", "config.sigmas"},
      {R"({"schedule":"custom","sigmas":1})", "config.sigmas"},
      {R"({"schedule":"custom"})", "config.sigmas"},
      {R"({"schedule":"custom","sigmas":[1,0.5,0],"steps":3})", "config.steps"},
      {R"({"sigmas":[1,0]})", "config.sigmas"},
      {R"({"mu":"high"})", "config.mu"},
      {R"({"mu":1e300})", "config.mu"},  // a pinned mu the shift cannot represent gives no schedule at any size
      {R"({"mu":-88})", "config.mu"},
      {R"({"mu":-710,"precision":"float64"})", "config.mu"},
      {R"({"schedule":"none","mu":1.15})", "config.mu"},
      {R"({"mu":1.15,"max_shift":1.2})", "config.max_shift"},
      {R"({"base_image_tokens":4096})", "config.max_image_tokens"},
      {R"({"base_image_tokens":0})", "config.base_image_tokens"},
      {R"({"max_image_tokens":-1})", "config.max_image_tokens"},
      {R"({"precision":"float16"})", "config.precision"},
      {R"({"precision":"float64","spacing":"diffusers"})", "config.spacing"},
      {R"({"spacing":"comfy"})", "config.spacing"},
      {R"({"eta":0.5})", "config.eta"},
      {R"({"sampler":"euler-ancestral","eta":1.5})", "config.eta"},
      {R"({"sampler":"euler-ancestral","eta":-0.1})", "config.eta"},
      {R"({"bogus":1})", "config.bogus"},
      {R"([1,2])", "config"},
      {R"({"schedule":"flux",)", "config"},
  };
  for (const Case& c : cases) {
    CallContext ctx;
    genplug_scheduler_t* raw = nullptr;
    const genplug_status st = FlowmatchLibrary::get()->create_raw(c.config, ctx, &raw);
    BOOST_TEST(st == GENPLUG_E_CONFIG, c.config);
    BOOST_TEST(raw == nullptr, c.config);
    BOOST_TEST(ctx.error().find(c.field + ":") != std::string::npos,
               c.config << " -> \"" << ctx.error() << "\" does not name " << c.field);
    if (raw) raw->destroy(raw);
  }
}

BOOST_AUTO_TEST_CASE(good_configs_create) {
  for (const char* config :
       {"{}", R"({"schedule":"flux","mu":1.15})", R"({"schedule":"flux","mu":1.15,"spacing":"diffusers"})",
        R"({"schedule":"none","precision":"float64"})", R"({"schedule":"custom","sigmas":[1,0.5,0],"steps":2})",
        R"({"sampler":"euler-ancestral","eta":0.3})"}) {
    CallContext ctx;
    genplug_scheduler_t* raw = nullptr;
    const genplug_status st = FlowmatchLibrary::get()->create_raw(config, ctx, &raw);
    BOOST_TEST(st == GENPLUG_OK, config << ": " << ctx.error());
    if (raw) raw->destroy(raw);
  }
}
