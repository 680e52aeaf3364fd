// Every case of the golden set (official guyyariv/DyPE code, executed) against the spectrum math API:
// frequencies and amplitude (mscale) to 1e-12 relative. The case list, layout and expected values come from
// golden("dype/cases.json"), so any set with the same layout passes or fails on its own numbers.
#define BOOST_TEST_MODULE dype_golden
#include <boost/test/unit_test.hpp>

#include <algorithm>

#include "dype_support.hpp"

using namespace dype_test;
namespace dype = genplug::dype;

namespace {

constexpr double kTolerance = 1e-12;

struct Golden {
  json doc = genplug::test::read_json(genplug::test::golden("dype/cases.json"));
  const json& meta() const { return doc.at("meta"); }
  const json& cases() const { return doc.at("cases"); }
};

// Largest relative error of one case over every frequency and amplitude; reports the worst entry.
double case_error(const json& c, const std::vector<dype::AxisSpectrum>& got, std::string* worst) {
  double max_err = 0.0;
  const json& expected = c.at("expected");
  for (std::size_t a = 0; a < got.size(); ++a) {
    const std::string key = "axis" + std::to_string(a);
    const auto freqs = expected.at(key + "_freqs").get<std::vector<double>>();
    BOOST_REQUIRE_EQUAL(freqs.size(), got[a].freqs.size());
    for (std::size_t j = 0; j < freqs.size(); ++j) {
      const double e = relative_error(got[a].freqs[j], freqs[j]);
      if (e > max_err) {
        max_err = e;
        *worst = key + "_freqs[" + std::to_string(j) + "]";
      }
    }
    const double e = relative_error(got[a].amplitude, expected.at(key + "_mscale").get<double>());
    if (e > max_err) {
      max_err = e;
      *worst = key + "_mscale";
    }
  }
  return max_err;
}

}  // namespace

BOOST_AUTO_TEST_CASE(golden_set_has_cases_for_every_official_method) {
  Golden g;
  BOOST_REQUIRE_GT(g.cases().size(), 0u);
  for (const json& c : g.cases()) BOOST_CHECK_NO_THROW(golden_method(c));
}

BOOST_AUTO_TEST_CASE(every_case_matches_official_frequencies_and_mscale) {
  Golden g;
  const dype::Layout layout = golden_layout(g.meta());
  double worst_overall = 0.0;
  std::size_t checked = 0, deviating = 0;
  for (const json& c : g.cases()) {
    if (in_documented_deviation(c, layout)) {
      ++deviating;
      continue;
    }
    const dype::MethodConfig config = dype::MethodConfig::defaults(golden_method(c));
    const auto got = dype::compute_spectrum(config, layout, golden_target(c), c.at("t").get<double>());
    BOOST_REQUIRE_EQUAL(got.size(), layout.axis_dims.size());
    std::string worst;
    const double err = case_error(c, got, &worst);
    BOOST_CHECK_MESSAGE(err <= kTolerance, describe(c) << ": " << worst << " off by " << err << " relative");
    worst_overall = std::max(worst_overall, err);
    ++checked;
  }
  BOOST_TEST_MESSAGE("checked " << checked << " golden cases; largest relative error " << worst_overall << "; "
                                << deviating << " left out (a YaRN blend where genplug deviates on purpose)");
  BOOST_TEST(checked > 0u);
}

// The regime the golden tests leave out is the one docs/dype.md gives for FLUX: below t ~ 0.0242 (the beta pair's
// low index past d/2) at any extrapolated size, and never at t = 1 or for another method.
BOOST_AUTO_TEST_CASE(documented_deviation_regime_is_the_documented_one) {
  const dype::Layout flux = dype::Layout::flux();
  auto query = [](const char* method, double t) {
    return json{{"method", method}, {"t", t}, {"grid_h", 256}, {"grid_w", 256}};
  };
  BOOST_TEST(in_documented_deviation(query("dy-yarn", 0.0242), flux));
  BOOST_TEST(!in_documented_deviation(query("dy-yarn", 0.0243), flux));
  BOOST_TEST(in_documented_deviation(query("dy-yarn", 0.0), flux));
  BOOST_TEST(!in_documented_deviation(query("dy-yarn", 1.0), flux));
  BOOST_TEST(!in_documented_deviation(query("yarn", 0.001), flux));
  BOOST_TEST(!in_documented_deviation(json{{"method", "dy-yarn"}, {"t", 0.001}, {"grid_h", 64}, {"grid_w", 64}}, flux));
  // A small theta (docs/dype.md's example: 7 with L = 64): yarn and dy-yarn (whose threshold is yarn's times
  // t^2 <= 1) at every t, dy-yarn-legacy below t ~ 0.83 (its threshold 1.25^(2 t^2) grows with t), the others never.
  dype::Layout small_theta = flux;
  small_theta.theta = 7.0;
  for (double t : {0.001, 0.5, 1.0}) BOOST_TEST(in_documented_deviation(query("yarn", t), small_theta), t);
  BOOST_TEST(in_documented_deviation(query("dy-yarn-legacy", 0.5), small_theta));
  BOOST_TEST(!in_documented_deviation(query("dy-yarn-legacy", 1.0), small_theta));
  for (double t : {0.5, 1.0}) BOOST_TEST(in_documented_deviation(query("dy-yarn", t), small_theta), t);
  BOOST_TEST(!in_documented_deviation(query("ntk", 0.5), small_theta));
}

// The per-axis scales the official code applies (s = grid / base when grid > base, strictly).
BOOST_AUTO_TEST_CASE(axis_plans_follow_the_cases_scale_fields) {
  Golden g;
  const dype::Layout layout = golden_layout(g.meta());
  const genplug_rotary_layout_t view = layout.view();
  for (const json& c : g.cases()) {
    const auto target = golden_target(c);
    dype::AxisPlan plans[3];
    BOOST_REQUIRE_EQUAL(layout.axis_dims.size(), 3u);
    dype::plan_axes(dype::MethodConfig::defaults(golden_method(c)), view, target.data(), plans);
    BOOST_CHECK(!plans[0].scaled);
    const double s_h = c.at("s_h").get<double>(), s_w = c.at("s_w").get<double>();
    BOOST_CHECK_EQUAL(plans[1].scaled, s_h > 1.0);
    BOOST_CHECK_EQUAL(plans[2].scaled, s_w > 1.0);
    BOOST_CHECK_EQUAL(plans[1].scale, s_h);
    BOOST_CHECK_EQUAL(plans[2].scale, s_w);
  }
}
