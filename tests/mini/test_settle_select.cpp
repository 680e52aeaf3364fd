// The decisions of genplug-dype-calibrate (bench/dype_effect/settle.hpp, docs/dype-effect.md section 6) on
// synthetic inputs: where the switch configs step, when a layout curve counts as settled, which schedule shapes
// are swept and which one the rule picks.
#define BOOST_TEST_MODULE settle_select
#include <boost/test/unit_test.hpp>

#include <limits>
#include <set>
#include <stdexcept>
#include <tuple>

#include "settle.hpp"  // bench/dype_effect

namespace de = genplug::dype_effect;
using nlohmann::json;

namespace {

// A flux-like schedule of 6 steps (shifted, so unevenly spaced), ending at 0.
const std::vector<double> kSigmas = {1.0, 0.93, 0.82, 0.66, 0.45, 0.21, 0.0};

std::vector<de::Estimate> curve(const std::vector<double>& means, double half_width) {
  std::vector<de::Estimate> out;
  for (double m : means) out.push_back({m, m - half_width, m + half_width});
  return out;
}

de::ShapeScores scores(de::Shape shape, double objects_right, double layout, double abs_hf_dev) {
  return {shape, objects_right, layout, abs_hf_dev};
}

}  // namespace

// C_k must see the method at full strength in evaluations 0 .. k-1 (sigma >= tau) and plain RoPE after.
BOOST_AUTO_TEST_CASE(a_switch_point_splits_the_evaluations_after_the_kth) {
  for (int stride : {1, 2, 4}) {
    const std::vector<de::SwitchPoint> points = de::switch_points(kSigmas, stride);
    BOOST_TEST(points.front().k == 0);
    BOOST_TEST(points.back().k == 6);
    for (const de::SwitchPoint& p : points) {
      if (p.k == 0) continue;
      for (int j = 0; j < 6; ++j)
        BOOST_TEST((kSigmas[j] >= p.tau) == (j < p.k), "stride " << stride << ", k " << p.k << ", j " << j);
    }
  }
  const std::vector<de::SwitchPoint> every = de::switch_points(kSigmas, 1);
  BOOST_TEST(every.size() == 7u);
  BOOST_TEST(every[1].tau == (1.0 + 0.93) / 2);
  BOOST_TEST(every[6].tau == 0.21 / 2);
  std::vector<int> ks;
  for (const de::SwitchPoint& p : de::switch_points(kSigmas, 4)) ks.push_back(p.k);
  BOOST_TEST(ks == (std::vector<int>{0, 4, 6}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(malformed_schedules_are_refused) {
  BOOST_CHECK_THROW(de::switch_points({1.0}, 1), std::invalid_argument);
  BOOST_CHECK_THROW(de::switch_points({1.0, 0.5}, 1), std::invalid_argument);          // does not end at 0
  BOOST_CHECK_THROW(de::switch_points({1.0, 0.5, 0.5, 0.0}, 1), std::invalid_argument);  // not decreasing
  BOOST_CHECK_THROW(de::switch_points(kSigmas, 0), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(switch_configs_are_a_hard_step_or_no_interpolation) {
  const json none = de::switch_posenc("dy-yarn", {0, 0.0});
  BOOST_TEST(none == json::parse(R"({"plugin": "org.genplug.dype", "config": {"method": "dy-yarn", "lambda_s": 0}})"));
  const json step = de::switch_posenc("dy-ntk", {3, 0.74});
  BOOST_TEST(step.at("config").at("method") == "dy-ntk");
  BOOST_TEST(step.at("config").at("dynamic_start_sigma").get<double>() == 0.74);
  BOOST_TEST(step.at("config").at("dynamic_end_sigma").get<double>() == 0.74);
  BOOST_TEST(!step.at("config").contains("lambda_s"));
}

BOOST_AUTO_TEST_CASE(the_settled_step_is_the_first_within_delta_of_the_full_curve) {
  const std::vector<de::SwitchPoint> points = de::switch_points(kSigmas, 1);
  // Narrow intervals: delta = 0.02, threshold 0.80 - 0.02 = 0.78, first reached at k = 4.
  const de::Settling narrow = de::find_settling(points, curve({0.2, 0.3, 0.5, 0.7, 0.79, 0.8, 0.8}, 0.005));
  BOOST_TEST(narrow.settled);
  BOOST_TEST(narrow.reason == "settled");
  BOOST_TEST(narrow.delta == 0.02);
  BOOST_TEST(narrow.k == 4);
  BOOST_TEST(narrow.sigma == points[4].tau);
  // A wide interval on L(N) widens delta to its half-width: threshold 0.80 - 0.12 = 0.68, reached at k = 3.
  const std::vector<de::Estimate> wide = curve({0.2, 0.3, 0.5, 0.7, 0.79, 0.8, 0.8}, 0.12);
  const de::Settling w = de::find_settling(points, wide);
  BOOST_TEST(w.delta == 0.12, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(w.k == 3);
}

BOOST_AUTO_TEST_CASE(no_layout_benefit_leaves_the_model_unsettled) {
  const std::vector<de::SwitchPoint> points = de::switch_points(kSigmas, 2);  // k = 0, 2, 4, 6
  const de::Settling flat = de::find_settling(points, curve({0.5, 0.52, 0.51, 0.515}, 0.01));
  BOOST_TEST(!flat.settled);
  BOOST_TEST(flat.reason == "no_layout_benefit");
  // L(N) = L(0) + delta exactly is no benefit either (strict); a little more is.
  BOOST_TEST(!de::find_settling(points, curve({0.5, 0.5, 0.5, 0.5 + 0.02}, 0.01)).settled);
  BOOST_TEST(de::find_settling(points, curve({0.5, 0.5, 0.5, 0.53}, 0.01)).settled);
  // Worse with interpolation than without.
  BOOST_TEST(!de::find_settling(points, curve({0.6, 0.5, 0.4, 0.3}, 0.01)).settled);
  BOOST_CHECK_THROW(de::find_settling(points, curve({0.5, 0.6}, 0.01)), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(the_sweep_holds_twelve_distinct_shapes_the_official_first) {
  de::Settling s;
  s.settled = true, s.sigma = 0.6;
  const std::vector<de::Shape> shapes = de::sweep_shapes(s);
  BOOST_TEST(shapes.size() == 12u);
  BOOST_TEST(de::fields_changed(shapes.front()) == 0);
  std::set<std::tuple<double, double, double>> seen;
  for (const de::Shape& shape : shapes) {
    BOOST_TEST((shape.start_sigma == 1.0 || shape.start_sigma == 0.6));
    BOOST_TEST((shape.end_sigma == 0.0 || shape.end_sigma == 0.3));
    BOOST_TEST((shape.lambda_t == 1.0 || shape.lambda_t == 2.0 || shape.lambda_t == 4.0));
    BOOST_TEST(shape.end_sigma <= shape.start_sigma);
    seen.insert({shape.start_sigma, shape.end_sigma, shape.lambda_t});
  }
  BOOST_TEST(seen.size() == 12u);
  BOOST_CHECK_THROW(de::sweep_shapes(de::Settling{}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(a_shape_config_names_only_what_differs_from_the_official) {
  BOOST_TEST(de::shape_posenc("dy-yarn", de::official_shape) ==
             json::parse(R"({"plugin": "org.genplug.dype", "config": {"method": "dy-yarn"}})"));
  const json c = de::shape_posenc("dy-yarn", {0.6, 0.0, 4.0}).at("config");
  BOOST_TEST(c.size() == 3u);
  BOOST_TEST(c.at("dynamic_start_sigma").get<double>() == 0.6);
  BOOST_TEST(c.at("lambda_t").get<double>() == 4.0);
  BOOST_TEST(de::fields_changed({0.6, 0.3, 1.0}) == 3);
}

BOOST_AUTO_TEST_CASE(the_rule_picks_the_least_hf_dev_then_the_fewest_changes) {
  const de::Shape official = de::official_shape, two{0.6, 0.3, 2.0}, one{0.6, 0.0, 2.0}, three{0.6, 0.3, 4.0};
  // best static objects_right 0.5 (floor 0.48), settled layout 0.8 with delta 0.02 (floor 0.78).
  const std::vector<de::ShapeScores> s = {
      scores(official, 0.50, 0.80, 0.40),  // feasible, far from the best hf
      scores(two, 0.49, 0.79, 0.200),      // feasible, best hf
      scores(one, 0.485, 0.785, 0.209),    // feasible, within 0.01 of the best, fewer changes: chosen
      scores(three, 0.20, 0.90, 0.001)};   // objects_right too low
  const de::Selection chosen = de::select_shape(s, 0.5, 0.8, 0.02);
  BOOST_TEST(!chosen.official);
  BOOST_TEST_REQUIRE(chosen.index.has_value());
  BOOST_TEST(*chosen.index == 2u);
  BOOST_TEST(chosen.shape.start_sigma == 0.6);
  BOOST_TEST(chosen.shape.end_sigma == 0.0);
  BOOST_TEST(chosen.trace.size() == 4u);
  BOOST_TEST(chosen.trace[3].at("verdict").get<std::string>().find("objects_right") != std::string::npos);
  BOOST_TEST(chosen.trace[0].at("verdict") == "feasible");
  // Just outside the tie margin, the better hf_dev wins despite more changes.
  std::vector<de::ShapeScores> apart = s;
  apart[2].abs_hf_dev = 0.2101;
  BOOST_TEST(de::select_shape(apart, 0.5, 0.8, 0.02).shape.end_sigma == 0.3);
  // The official shape wins a tie (no field changed).
  std::vector<de::ShapeScores> tie = s;
  tie[0].abs_hf_dev = 0.205;
  BOOST_TEST(de::select_shape(tie, 0.5, 0.8, 0.02).official);
}

BOOST_AUTO_TEST_CASE(with_no_feasible_shape_the_official_one_is_kept) {
  const std::vector<de::ShapeScores> s = {scores(de::official_shape, 0.30, 0.80, 0.4),
                                          scores({0.6, 0.0, 1.0}, 0.49, 0.70, 0.1)};  // layout too low
  const de::Selection kept = de::select_shape(s, 0.5, 0.8, 0.02);
  BOOST_TEST(kept.official);
  BOOST_TEST(!kept.index.has_value());
  BOOST_TEST(de::fields_changed(kept.shape) == 0);
  BOOST_TEST(kept.reason.find("no feasible shape") != std::string::npos);
  BOOST_TEST(kept.trace[1].at("verdict").get<std::string>().find("layout") != std::string::npos);
}

// NaN pixels give a NaN |hf_dev|: such a shape is out, and with only such shapes the official one is kept.
BOOST_AUTO_TEST_CASE(a_shape_with_a_non_finite_hf_dev_is_not_feasible) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<de::ShapeScores> s = {scores(de::official_shape, 0.5, 0.8, nan),
                                          scores({0.6, 0.0, 1.0}, 0.5, 0.8, nan)};
  const de::Selection kept = de::select_shape(s, 0.5, 0.8, 0.02);
  BOOST_TEST(kept.official);
  BOOST_TEST(kept.trace[1].at("verdict") == "hf_dev not finite");
  std::vector<de::ShapeScores> one_finite = s;
  one_finite[1].abs_hf_dev = 0.3;
  BOOST_TEST(!de::select_shape(one_finite, 0.5, 0.8, 0.02).official);
}
