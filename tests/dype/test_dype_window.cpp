// The dynamic window (dynamic_start_sigma, dynamic_end_sigma; docs/dype-effect.md §5): (a) the defaults written
// out leave every golden spectrum bit-identical, (b) schedule_position at the window's edges and as a hard step,
// (c) a lambda_s = 1 step switches dy-yarn / dy-pi between their static forms bit-wise, (d) the config fields:
// errors naming the field, JSON round trip.
#define BOOST_TEST_MODULE dype_window
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include <genplug/dype/config.hpp>
#include <genplug/plugin.hpp>

#include "config_errors.hpp"
#include "dype_support.hpp"

using namespace dype_test;
namespace dype = genplug::dype;
using dype::Method;

namespace {

const dype::Layout kFlux = dype::Layout::flux();

bool bitwise_equal(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

bool bitwise_equal(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

void check_same_bits(const std::vector<dype::AxisSpectrum>& got, const std::vector<dype::AxisSpectrum>& want,
                     const std::string& what) {
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  for (std::size_t a = 0; a < got.size(); ++a) {
    BOOST_CHECK_MESSAGE(bitwise_equal(got[a].freqs, want[a].freqs), what << ": axis " << a << " frequencies differ");
    BOOST_CHECK_MESSAGE(bitwise_equal(got[a].amplitude, want[a].amplitude),
                        what << ": axis " << a << " amplitude " << got[a].amplitude << " vs " << want[a].amplitude);
  }
}

// Every golden query: the spectrum cases and the cos/sin table cases (same fields: method, grid, t).
std::vector<json> golden_queries() {
  std::vector<json> all;
  for (const char* file : {"dype/cases.json", "dype/tables.json"}) {
    const json doc = genplug::test::read_json(genplug::test::golden(file));
    const json& cases = doc.is_object() ? doc.at("cases") : doc;
    all.insert(all.end(), cases.begin(), cases.end());
  }
  return all;
}

json method_only(const json& c) { return json{{"method", c.at("method")}}; }

// A config with the window set to [end, start] on top of `base`.
dype::MethodConfig with_window(json base, const json& start, const json& end) {
  base["dynamic_start_sigma"] = start;
  base["dynamic_end_sigma"] = end;
  return dype::parse_config(base.dump());
}

// A lambda_s = 1 hard step at tau: full strength at t >= tau, released below.
dype::MethodConfig step_at(const char* method, double tau) {
  return with_window(json{{"method", method}, {"lambda_s", 1}}, tau, tau);
}

std::vector<uint32_t> target_px(uint32_t height, uint32_t width) {
  return {1u, height / kFlux.pixels_per_token, width / kFlux.pixels_per_token};
}

// Square, non-square, one axis unscaled.
const std::vector<std::vector<uint32_t>> kTargets = {target_px(2048, 2048), target_px(4096, 4096),
                                                     target_px(4096, 3072), target_px(1024, 4096)};

std::vector<dype::AxisSpectrum> spectrum(const dype::MethodConfig& c, const std::vector<uint32_t>& target, double t) {
  return dype::compute_spectrum(c, kFlux, target, t);
}

std::string at(const std::vector<uint32_t>& target, double t) {
  return std::to_string(target[1]) + "x" + std::to_string(target[2]) + " tokens, t=" + json(t).dump();
}


}  // namespace

// ---- (a) the defaults keep the official spectra ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(default_window_written_out_leaves_every_golden_spectrum_bit_identical) {
  const dype::Layout layout =
      golden_layout(genplug::test::read_json(genplug::test::golden("dype/cases.json")).at("meta"));
  const auto queries = golden_queries();
  BOOST_REQUIRE_GT(queries.size(), 0u);
  for (const json& c : queries) {
    const double t = c.at("t").get<double>();
    const auto plain = dype::compute_spectrum(dype::parse_config(method_only(c).dump()), layout, golden_target(c), t);
    const auto written = dype::compute_spectrum(with_window(method_only(c), 1, 0), layout, golden_target(c), t);
    const auto official = dype::compute_spectrum(dype::MethodConfig::defaults(golden_method(c)), layout,
                                                 golden_target(c), t);  // what test_dype_golden checks
    check_same_bits(written, plain, describe(c));
    check_same_bits(written, official, describe(c));
  }
  BOOST_TEST_MESSAGE("compared " << queries.size() << " golden queries bit-wise");
}

// Why (a) holds: with the defaults u(t) is t itself, so kappa is the pre-window lambda_s * t^lambda_t.
BOOST_AUTO_TEST_CASE(default_window_is_the_identity_on_every_golden_t) {
  std::vector<double> ts = {0.0, 1.0};
  for (const json& c : golden_queries()) ts.push_back(c.at("t").get<double>());
  for (Method m : dype::all_methods()) {
    for (dype::TimeRounding rounding : {dype::TimeRounding::exact, dype::TimeRounding::bf16_pipeline}) {
      auto config = dype::MethodConfig::defaults(m);
      config.t_rounding = rounding;
      for (double t : ts) {
        const double te = dype::effective_t(config, t);
        BOOST_CHECK_MESSAGE(bitwise_equal(dype::schedule_position(config.window, te), te), "u(" << te << ") != t");
        BOOST_CHECK_MESSAGE(bitwise_equal(dype::kappa(config, te), config.lambda_s * std::pow(te, config.lambda_t)),
                            dype::method_name(m) << ": kappa(" << te << ") differs from lambda_s * t^lambda_t");
      }
    }
  }
}

// ---- (b) schedule_position --------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(schedule_position_at_the_window_edges) {
  const dype::DynamicWindow w{0.75, 0.25};  // dyadic: every value below is exact
  BOOST_CHECK_EQUAL(dype::schedule_position(w, 1.0), 1.0);
  BOOST_CHECK_EQUAL(dype::schedule_position(w, 0.0), 0.0);
  BOOST_CHECK_EQUAL(dype::schedule_position(w, 0.75), 1.0);
  BOOST_CHECK_EQUAL(dype::schedule_position(w, 0.25), 0.0);
  BOOST_CHECK_EQUAL(dype::schedule_position(w, 0.5), 0.5);  // midpoint
  BOOST_CHECK_EQUAL(dype::schedule_position(w, 0.375), 0.25);
  BOOST_CHECK_CLOSE(dype::schedule_position(dype::DynamicWindow{0.8, 0.3}, 0.55), 0.5, 1e-12);
  const dype::DynamicWindow official;
  for (double t : {0.0, std::numeric_limits<double>::denorm_min(), 1e-300, 0.1, 0.5, std::nextafter(1.0, 0.0), 1.0})
    BOOST_CHECK_MESSAGE(bitwise_equal(dype::schedule_position(official, t), t), "default window: u(" << t << ") != t");
}

BOOST_AUTO_TEST_CASE(equal_sigmas_make_a_hard_step) {
  for (double tau : {0.3, 0.5, 0.9, 1.0}) {
    const dype::DynamicWindow step{tau, tau};
    BOOST_CHECK_EQUAL(dype::schedule_position(step, tau), 1.0);
    BOOST_CHECK_EQUAL(dype::schedule_position(step, std::nextafter(tau, 0.0)), 0.0);
    BOOST_CHECK_EQUAL(dype::schedule_position(step, 1.0), 1.0);
    BOOST_CHECK_EQUAL(dype::schedule_position(step, 0.0), 0.0);
  }
}

// ---- (c) a lambda_s = 1 step switches between the static forms --------------------------------------------

BOOST_AUTO_TEST_CASE(dy_yarn_step_is_yarn_above_and_rope_frequencies_with_yarn_amplitude_below) {
  const auto yarn = dype::MethodConfig::defaults(Method::yarn);
  const auto rope = dype::MethodConfig::defaults(Method::rope);
  for (double tau : {0.5, 0.3}) {
    const auto step = step_at("dy-yarn", tau);
    for (const auto& target : kTargets) {
      for (double t : {1.0, 0.75, tau})
        check_same_bits(spectrum(step, target, t), spectrum(yarn, target, t), at(target, t));
      for (double t : {std::nextafter(tau, 0.0), 0.25, 0.0}) {
        const auto got = spectrum(step, target, t);
        const auto rope_axes = spectrum(rope, target, t);
        const auto yarn_axes = spectrum(yarn, target, t);
        for (std::size_t a = 0; a < got.size(); ++a) {
          BOOST_CHECK_MESSAGE(bitwise_equal(got[a].freqs, rope_axes[a].freqs), at(target, t) << " axis " << a);
          BOOST_CHECK_MESSAGE(bitwise_equal(got[a].amplitude, yarn_axes[a].amplitude), at(target, t) << " axis " << a);
        }
      }
    }
  }
  // Not vacuous: at 4x the two regimes differ on a scaled axis, and yarn's amplitude is not 1.
  const auto target = target_px(4096, 4096);
  BOOST_CHECK(!bitwise_equal(spectrum(yarn, target, 1.0)[1].freqs, spectrum(rope, target, 1.0)[1].freqs));
  BOOST_CHECK_NE(spectrum(yarn, target, 1.0)[1].amplitude, 1.0);
}

BOOST_AUTO_TEST_CASE(dy_pi_step_is_pi_then_rope) {
  const auto pi = dype::MethodConfig::defaults(Method::pi);
  const auto rope = dype::MethodConfig::defaults(Method::rope);
  for (double tau : {0.5, 0.3}) {
    const auto step = step_at("dy-pi", tau);
    for (const auto& target : kTargets) {
      for (double t : {1.0, 0.75, tau})
        check_same_bits(spectrum(step, target, t), spectrum(pi, target, t), at(target, t));
      for (double t : {std::nextafter(tau, 0.0), 0.25, 0.0})
        check_same_bits(spectrum(step, target, t), spectrum(rope, target, t), at(target, t));
    }
  }
}

// The window sees t after t_rounding: 0.988409 rounds to 0.98828125 in the bf16 pipeline, below a step at 0.9883.
BOOST_AUTO_TEST_CASE(the_window_sees_t_after_t_rounding) {
  const double t = 0.988409, tau = 0.9883;
  const auto target = target_px(4096, 4096);
  auto step = step_at("dy-pi", tau);
  check_same_bits(spectrum(step, target, t), spectrum(dype::MethodConfig::defaults(Method::pi), target, t), "exact");
  step.t_rounding = dype::TimeRounding::bf16_pipeline;
  check_same_bits(spectrum(step, target, t), spectrum(dype::MethodConfig::defaults(Method::rope), target, t),
                  "bf16-pipeline");
}

BOOST_AUTO_TEST_CASE(static_methods_ignore_the_window) {
  for (Method m : dype::all_methods()) {
    if (dype::is_dynamic(m)) continue;
    const auto official = dype::MethodConfig::defaults(m);
    const auto windowed = with_window(json{{"method", dype::method_name(m)}}, 0.5, 0.5);
    for (const auto& target : kTargets)
      for (double t : {1.0, 0.5, 0.25, 0.0})
        check_same_bits(spectrum(windowed, target, t), spectrum(official, target, t),
                        std::string(dype::method_name(m)) + " " + at(target, t));
  }
}

// ---- (d) the config fields --------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(window_fields_are_read_and_default_to_the_official_schedule) {
  const auto official = dype::parse_config("{}");
  BOOST_CHECK_EQUAL(official.window.start_sigma, 1.0);
  BOOST_CHECK_EQUAL(official.window.end_sigma, 0.0);
  const auto c = dype::parse_config(R"({"method":"dy-pi","dynamic_start_sigma":0.7,"dynamic_end_sigma":0.2})");
  BOOST_CHECK_EQUAL(c.window.start_sigma, 0.7);
  BOOST_CHECK_EQUAL(c.window.end_sigma, 0.2);
  BOOST_CHECK_EQUAL(dype::parse_config(R"({"dynamic_start_sigma":0.4})").window.end_sigma, 0.0);
  BOOST_CHECK_EQUAL(dype::parse_config(R"({"dynamic_end_sigma":0.4})").window.start_sigma, 1.0);
  for (const char* edge :
       {R"({"dynamic_start_sigma":1,"dynamic_end_sigma":1})", R"({"dynamic_start_sigma":0,"dynamic_end_sigma":0})",
        R"({"dynamic_start_sigma":0.5,"dynamic_end_sigma":0.5})"})
    BOOST_CHECK_NO_THROW(dype::parse_config(edge));
}

BOOST_AUTO_TEST_CASE(window_errors_name_the_field) {
  expect_error(R"({"dynamic_start_sigma":0.5,"dynamic_end_sigma":0.7})",
               {"config.dynamic_end_sigma: must be <= config.dynamic_start_sigma (0.5), got 0.7"});
  expect_error(R"({"method":"rope","dynamic_start_sigma":0.1,"dynamic_end_sigma":0.9})",
               {"config.dynamic_end_sigma", "config.dynamic_start_sigma"});  // checked for every method
  expect_error(R"({"dynamic_start_sigma":1.5})", {"config.dynamic_start_sigma", "must be in [0, 1]", "1.5"});
  expect_error(R"({"dynamic_start_sigma":-0.25})", {"config.dynamic_start_sigma", "must be in [0, 1]", "-0.25"});
  expect_error(R"({"dynamic_end_sigma":2})", {"config.dynamic_end_sigma", "must be in [0, 1]", "2"});
  expect_error(R"({"dynamic_end_sigma":-1})", {"config.dynamic_end_sigma", "must be in [0, 1]", "-1"});
  expect_error(R"({"dynamic_start_sigma":"0.5"})", {"config.dynamic_start_sigma", "must be a number", "string"});
  expect_error(R"({"dynamic_end_sigma":null})", {"config.dynamic_end_sigma", "must be a number", "null"});
  expect_error(R"({"dynamic_end_sigma":true})", {"config.dynamic_end_sigma", "must be a number", "boolean"});
  expect_error(R"({"dynamic_sigma":0.5})",
               {"config.dynamic_sigma", "unknown field", "dynamic_start_sigma", "dynamic_end_sigma"});
}

// config_to_json holds the window, and parse -> print is a fixed point (the property fuzz_dype_config checks).
BOOST_AUTO_TEST_CASE(round_trip_json_keeps_the_window) {
  const json defaults = json::parse(dype::config_to_json(dype::MethodConfig::defaults(Method::dy_yarn)));
  BOOST_CHECK_EQUAL(defaults.at("dynamic_start_sigma").get<double>(), 1.0);
  BOOST_CHECK_EQUAL(defaults.at("dynamic_end_sigma").get<double>(), 0.0);
  for (const char* text : {R"({"method":"dy-pi","dynamic_start_sigma":0.7,"dynamic_end_sigma":0.2})",
                           R"({"method":"yarn","dynamic_start_sigma":0.3,"dynamic_end_sigma":0.3})",
                           R"({"dynamic_start_sigma":0.1,"dynamic_end_sigma":-0.0})", "{}"}) {
    const auto c = dype::parse_config(text);
    const std::string printed = dype::config_to_json(c);
    const json j = json::parse(printed);
    BOOST_CHECK_EQUAL(j.at("dynamic_start_sigma").get<double>(), c.window.start_sigma);
    BOOST_CHECK_EQUAL(j.at("dynamic_end_sigma").get<double>(), c.window.end_sigma);
    const auto again = dype::parse_config(printed);
    BOOST_CHECK(bitwise_equal(again.window.start_sigma, c.window.start_sigma));
    BOOST_CHECK(bitwise_equal(again.window.end_sigma, c.window.end_sigma));
    BOOST_CHECK_EQUAL(dype::config_to_json(again), printed);
  }
}

BOOST_AUTO_TEST_CASE(schema_documents_the_window) {
  const json props = json::parse(dype::config_schema()).at("properties");
  for (const char* name : {"dynamic_start_sigma", "dynamic_end_sigma"}) {
    BOOST_REQUIRE_MESSAGE(props.contains(name), name << " missing from the schema");
    BOOST_CHECK_EQUAL(props.at(name).at("type"), "number");
    BOOST_CHECK_EQUAL(props.at(name).at("minimum"), 0);
    BOOST_CHECK_EQUAL(props.at(name).at("maximum"), 1);
  }
  BOOST_CHECK_EQUAL(props.at("dynamic_start_sigma").at("default"), 1);
  BOOST_CHECK_EQUAL(props.at("dynamic_end_sigma").at("default"), 0);
}
