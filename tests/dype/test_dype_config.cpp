// The DyPE config: defaults per method, every bad field rejected with its name, and the JSON Schema
// (allowed keywords only, additionalProperties false, every field documented, defaults = the parser's).
#define BOOST_TEST_MODULE dype_config
#include <boost/test/unit_test.hpp>

#include <set>

#include <genplug/dype/config.hpp>
#include <genplug/plugin.hpp>

#include "config_errors.hpp"
#include "dype_support.hpp"

using namespace dype_test;
namespace dype = genplug::dype;
using dype::Method;

namespace {


const std::set<std::string> kAllowedKeywords = {
    "$schema", "title",    "description", "type",     "properties",       "required",         "additionalProperties",
    "enum",    "const",    "default",     "minimum",  "maximum",          "exclusiveMinimum", "exclusiveMaximum",
    "items",   "minItems", "maxItems",    "anyOf",    "oneOf"};

// Walks a schema object: every key must be an allowed keyword; recurses into sub-schemas only.
void check_keywords(const json& schema, const std::string& where) {
  BOOST_REQUIRE_MESSAGE(schema.is_object(), where << " is not a schema object");
  for (const auto& item : schema.items()) {
    BOOST_CHECK_MESSAGE(kAllowedKeywords.count(item.key()), where << ": keyword '" << item.key() << "' not allowed");
    if (item.key() == "properties")
      for (const auto& p : item.value().items()) check_keywords(p.value(), where + "/properties/" + p.key());
    if (item.key() == "items") check_keywords(item.value(), where + "/items");
    if (item.key() == "anyOf" || item.key() == "oneOf")
      for (std::size_t i = 0; i < item.value().size(); ++i)
        check_keywords(item.value()[i], where + "/" + item.key() + "/" + std::to_string(i));
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(empty_config_is_official_dy_yarn) {
  for (const std::string text : {"{}", ""}) {
    const auto c = dype::parse_config(text);
    BOOST_CHECK(c.method == Method::dy_yarn);
    BOOST_CHECK_EQUAL(c.lambda_s, 1.0);
    BOOST_CHECK_EQUAL(c.lambda_t, 2.0);
    BOOST_CHECK_EQUAL(c.thresholds.beta_0, 1.25);
    BOOST_CHECK_EQUAL(c.thresholds.beta_1, 0.75);
    BOOST_CHECK_EQUAL(c.thresholds.gamma_0, 16.0);
    BOOST_CHECK_EQUAL(c.thresholds.gamma_1, 2.0);
    BOOST_CHECK_EQUAL(c.mscale_coefficient, 0.1);
    BOOST_CHECK_EQUAL(c.mscale_offset, 1.0);
    BOOST_CHECK(!c.isotropic && !c.base_extent && !c.base_resolution);
    BOOST_CHECK(c.t_rounding == dype::TimeRounding::exact);
  }
}

BOOST_AUTO_TEST_CASE(lambda_s_default_follows_the_method) {
  BOOST_CHECK_EQUAL(dype::parse_config(R"({"method":"dy-ntk"})").lambda_s, 2.0);
  BOOST_CHECK_EQUAL(dype::parse_config(R"({"method":"dy-yarn-legacy"})").lambda_s, 2.0);
  BOOST_CHECK_EQUAL(dype::parse_config(R"({"method":"dy-pi"})").lambda_s, 2.0);
  BOOST_CHECK_EQUAL(dype::parse_config(R"({"method":"dy-yarn"})").lambda_s, 1.0);
  BOOST_CHECK_EQUAL(dype::parse_config(R"({"method":"dy-ntk","lambda_s":1.5})").lambda_s, 1.5);
  BOOST_CHECK(dype::parse_config(R"({"method":"base"})").method == Method::rope);
}

BOOST_AUTO_TEST_CASE(every_field_is_read) {
  const auto c = dype::parse_config(
      R"({"method":"yarn","lambda_s":0.5,"lambda_t":3,"beta_0":1.5,"beta_1":0.5,"gamma_0":20,"gamma_1":4,
          "mscale_coefficient":0.2,"mscale_offset":0.9,"isotropic":true,"base_resolution":1328})");
  BOOST_CHECK(c.method == Method::yarn);
  BOOST_CHECK_EQUAL(c.lambda_s, 0.5);
  BOOST_CHECK_EQUAL(c.lambda_t, 3.0);
  BOOST_CHECK_EQUAL(c.thresholds.beta_0, 1.5);
  BOOST_CHECK_EQUAL(c.thresholds.beta_1, 0.5);
  BOOST_CHECK_EQUAL(c.thresholds.gamma_0, 20.0);
  BOOST_CHECK_EQUAL(c.thresholds.gamma_1, 4.0);
  BOOST_CHECK_EQUAL(c.mscale_coefficient, 0.2);
  BOOST_CHECK_EQUAL(c.mscale_offset, 0.9);
  BOOST_CHECK(c.isotropic);
  BOOST_CHECK_EQUAL(*c.base_resolution, 1328u);
  BOOST_CHECK_EQUAL(*dype::parse_config(R"({"base_extent":83})").base_extent, 83u);
  BOOST_CHECK(dype::parse_config(R"({"t_rounding":"bf16-pipeline"})").t_rounding == dype::TimeRounding::bf16_pipeline);
  BOOST_CHECK(dype::parse_config(R"({"t_rounding":"exact"})").t_rounding == dype::TimeRounding::exact);
  BOOST_CHECK_EQUAL(*dype::parse_config(R"({"base_extent":83.0})").base_extent, 83u);
}

BOOST_AUTO_TEST_CASE(bad_configs_name_the_field) {
  expect_error(R"({"method":"dype++"})", {"config.method", "dype++", "dy-yarn-legacy"});
  expect_error(R"({"method":3})", {"config.method", "must be a string"});
  expect_error(R"({"lambda_s":-1})", {"config.lambda_s: must be >= 0, got -1"});
  expect_error(R"({"lambda_t":-0.5})", {"config.lambda_t", ">= 0"});
  expect_error(R"({"lambda_t":"2"})", {"config.lambda_t", "must be a number", "string"});
  expect_error(R"({"lambda_s":true})", {"config.lambda_s", "must be a number", "boolean"});
  expect_error(R"({"beta_0":0})", {"config.beta_0", "> 0"});
  expect_error(R"({"beta_1":1.5})", {"config.beta_1", "< config.beta_0"});
  expect_error(R"({"gamma_1":20})", {"config.gamma_1: must be < config.gamma_0 (16), got 20"});
  expect_error(R"({"beta_1":0.7,"beta_0":0.6})", {"config.beta_1: must be < config.beta_0 (0.6), got 0.7"});
  expect_error(R"({"beta_0":3})", {"config.beta_0", "<= config.gamma_1"});
  expect_error(R"({"gamma_0":-16})", {"config.gamma_0", "> 0"});
  expect_error(R"({"mscale_coefficient":-0.1})", {"config.mscale_coefficient", "[0, 10]"});
  expect_error(R"({"mscale_offset":0})", {"config.mscale_offset", "(0, 10]"});
  // Bounded above: 1e300 gave an infinite amplitude and NaN velocities at the job.
  expect_error(R"({"mscale_coefficient":1e300})", {"config.mscale_coefficient: must be in [0, 10], got 1e+300"});
  expect_error(R"({"mscale_offset":10.5})", {"config.mscale_offset", "(0, 10]"});
  expect_error(R"({"isotropic":"yes"})", {"config.isotropic", "boolean"});
  expect_error(R"({"base_resolution":0})", {"config.base_resolution", "[1, 1000000]"});
  expect_error(R"({"base_resolution":1024.5})", {"config.base_resolution", "integer"});
  expect_error(R"({"base_extent":-64})", {"config.base_extent"});
  expect_error(R"({"base_extent":64,"base_resolution":1024})", {"config.base_extent", "not both"});
  expect_error(R"({"t_rounding":"bf8"})", {"config.t_rounding", "bf16-pipeline"});
  expect_error(R"({"t_rounding":16})", {"config.t_rounding"});
  expect_error(R"({"lamda_s":2})", {"config.lamda_s", "unknown field"});
  // Refused as hosts refuse it in manifests: JSON keeps the last value only, and the first was meant too.
  expect_error(R"({"method":"yarn","method":"dy-yarn"})", {"config: the key \"method\" appears twice in one object"});
  expect_error(R"([1,2])", {"config", "must be a JSON object"});
  expect_error(R"({"method":)", {"config", "not valid JSON"});
}

BOOST_AUTO_TEST_CASE(effective_config_round_trips) {
  const auto c = dype::parse_config(R"({"method":"dy-ntk","lambda_t":1.5,"isotropic":true,"base_extent":80})");
  const auto again = dype::parse_config(dype::config_to_json(c));
  BOOST_CHECK(again.method == c.method);
  BOOST_CHECK_EQUAL(again.lambda_s, 2.0);
  BOOST_CHECK_EQUAL(again.lambda_t, 1.5);
  BOOST_CHECK(again.isotropic);
  BOOST_CHECK_EQUAL(*again.base_extent, 80u);
}

BOOST_AUTO_TEST_CASE(schema_uses_only_supported_keywords_and_documents_every_field) {
  const json schema = json::parse(dype::config_schema());
  check_keywords(schema, "#");
  BOOST_CHECK_EQUAL(schema.at("type"), "object");
  BOOST_CHECK_EQUAL(schema.at("additionalProperties"), false);
  const json& props = schema.at("properties");
  // Same field set as the parser: each schema property parses; an unknown one is rejected.
  const json defaults = json::parse(dype::config_to_json(dype::MethodConfig::defaults(Method::dy_yarn)));
  for (const auto& p : props.items()) {
    BOOST_CHECK_MESSAGE(p.value().contains("description") && p.value().at("description").get<std::string>().size() > 20,
                        p.key() << " lacks a description");
    BOOST_CHECK_MESSAGE(p.value().contains("type"), p.key() << " lacks a type");
    if (p.value().contains("default")) {
      BOOST_CHECK_NO_THROW(dype::parse_config(json{{p.key(), p.value().at("default")}}.dump()));
      BOOST_CHECK_MESSAGE(defaults.contains(p.key()) && defaults.at(p.key()) == p.value().at("default"),
                          p.key() << ": schema default " << p.value().at("default") << " differs from the parser's");
    }
  }
  for (const auto& d : defaults.items()) BOOST_CHECK_MESSAGE(props.contains(d.key()), d.key() << " missing from schema");
  for (const char* optional : {"base_resolution", "base_extent"}) BOOST_CHECK(props.contains(optional));
  BOOST_CHECK(!props.at("lambda_s").contains("default"));  // method-dependent, documented in the text
  const auto spellings = props.at("method").at("enum").get<std::vector<std::string>>();
  BOOST_CHECK(spellings == dype::method_spellings());
  for (const auto& s : spellings) BOOST_CHECK_NO_THROW(dype::parse_config(json{{"method", s}}.dump()));
}
