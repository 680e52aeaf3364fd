// Properties of the spectrum math beyond the golden cases: dy-yarn == yarn at t = 1, the dynamic forms tend
// to plain RoPE as t -> 0, s <= 1 leaves an axis untouched, non-square targets scale each axis on its own,
// everything finite for t in [0, 1] and extent ratios up to 64, and the config knobs do what they say.
#define BOOST_TEST_MODULE dype_properties
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <limits>

#include <genplug/plugin.hpp>

#include "dype_support.hpp"

using namespace dype_test;
namespace dype = genplug::dype;
using dype::Method;

namespace {

const dype::Layout kFlux = dype::Layout::flux();

std::vector<uint32_t> target_px(uint32_t height, uint32_t width) {
  return {1u, height / kFlux.pixels_per_token, width / kFlux.pixels_per_token};
}

std::vector<dype::AxisSpectrum> spectrum(Method m, uint32_t h, uint32_t w, double t) {
  return dype::compute_spectrum(dype::MethodConfig::defaults(m), kFlux, target_px(h, w), t);
}

double axis_deviation(const dype::AxisSpectrum& a, const dype::AxisSpectrum& b) {
  BOOST_REQUIRE_EQUAL(a.freqs.size(), b.freqs.size());
  double m = 0.0;
  for (std::size_t j = 0; j < a.freqs.size(); ++j) m = std::max(m, relative_error(a.freqs[j], b.freqs[j]));
  return m;
}

void check_axis_equal(const dype::AxisSpectrum& a, const dype::AxisSpectrum& b, const std::string& what) {
  BOOST_CHECK_MESSAGE(a.freqs == b.freqs, what << ": frequencies differ (max rel " << axis_deviation(a, b) << ")");
  BOOST_CHECK_MESSAGE(a.amplitude == b.amplitude, what << ": amplitude " << a.amplitude << " vs " << b.amplitude);
}

const Method kDynamicToRope[] = {Method::dy_pi, Method::dy_ntk, Method::dy_yarn};

}  // namespace

BOOST_AUTO_TEST_CASE(plain_rope_is_theta_power) {
  const auto s = spectrum(Method::rope, 4096, 4096, 1.0);
  for (std::size_t a = 0; a < s.size(); ++a) {
    const double d = kFlux.axis_dims[a];
    for (std::size_t j = 0; j < s[a].freqs.size(); ++j)
      BOOST_CHECK_LE(relative_error(s[a].freqs[j], std::pow(10000.0, -2.0 * double(j) / d)), 1e-15);
    BOOST_CHECK_EQUAL(s[a].amplitude, 1.0);
  }
}

BOOST_AUTO_TEST_CASE(dy_yarn_equals_yarn_at_t_one) {
  for (auto [h, w] : {std::pair{2048u, 2048u}, {4096u, 4096u}, {1360u, 4096u}, {3072u, 2048u}, {8192u, 1040u}}) {
    const auto dy = spectrum(Method::dy_yarn, h, w, 1.0);
    const auto st = spectrum(Method::yarn, h, w, 1.0);
    for (std::size_t a = 0; a < dy.size(); ++a)
      check_axis_equal(dy[a], st[a], std::to_string(h) + "x" + std::to_string(w) + " axis " + std::to_string(a));
  }
  // ... but the legacy form does not (its thresholds are raised to 2 t^2, not multiplied by t^2).
  const auto legacy = spectrum(Method::dy_yarn_legacy, 4096, 4096, 1.0);
  const auto st = spectrum(Method::yarn, 4096, 4096, 1.0);
  BOOST_CHECK_GT(axis_deviation(legacy[1], st[1]), 1e-3);
}

BOOST_AUTO_TEST_CASE(dynamic_forms_tend_to_plain_rope_as_t_goes_to_zero) {
  const auto rope = spectrum(Method::rope, 4096, 4096, 1.0);
  for (Method m : kDynamicToRope) {
    double previous = std::numeric_limits<double>::infinity();
    for (double t : {1.0, 0.5, 0.1, 0.01, 1e-3, 1e-4}) {
      const auto s = spectrum(m, 4096, 4096, t);
      const double dev = std::max(axis_deviation(s[1], rope[1]), axis_deviation(s[2], rope[2]));
      BOOST_CHECK_MESSAGE(dev <= previous, dype::method_name(m) << " t=" << t << ": deviation from RoPE grew to "
                                                                << dev << " from " << previous);
      previous = dev;
    }
    BOOST_CHECK_MESSAGE(previous < 1e-6, dype::method_name(m) << " t=1e-4: deviation " << previous);
    const auto at_zero = spectrum(m, 4096, 4096, 0.0);
    for (std::size_t a = 0; a < rope.size(); ++a)
      BOOST_CHECK_MESSAGE(at_zero[a].freqs == rope[a].freqs, dype::method_name(m) << " t=0 axis " << a);
  }
  // At t = 1 each dynamic form is far from RoPE (the test above is not vacuous).
  for (Method m : kDynamicToRope) BOOST_CHECK_GT(axis_deviation(spectrum(m, 4096, 4096, 1.0)[1], rope[1]), 0.5);
}

BOOST_AUTO_TEST_CASE(legacy_dy_yarn_keeps_a_base_pi_split_at_t_zero) {
  // Documented in docs/dype.md: thresholds^0 = 1 for all four, so the limit is base below the 1-rotation
  // index and PI above it, not plain RoPE.
  const auto legacy = spectrum(Method::dy_yarn_legacy, 4096, 4096, 0.0);
  const auto rope = spectrum(Method::rope, 4096, 4096, 1.0);
  BOOST_CHECK_EQUAL(legacy[1].freqs.front(), rope[1].freqs.front());
  BOOST_CHECK_LE(relative_error(legacy[1].freqs.back(), rope[1].freqs.back() / 4.0), 1e-15);
}

BOOST_AUTO_TEST_CASE(axes_at_or_below_the_base_stay_plain) {
  const auto rope = spectrum(Method::rope, 1024, 1024, 1.0);
  for (Method m : dype::all_methods())
    for (double t : {1.0, 0.5, 0.0})
      for (auto [h, w] : {std::pair{1024u, 1024u}, {512u, 256u}, {1024u, 4096u}, {16u, 1024u}}) {
        const auto s = spectrum(m, h, w, t);
        const std::string what = std::string(dype::method_name(m)) + " " + std::to_string(h) + "x" +
                                  std::to_string(w) + " t=" + std::to_string(t);
        check_axis_equal(s[0], rope[0], what + " axis 0");
        check_axis_equal(s[1], rope[1], what + " axis 1");
        if (w <= 1024) check_axis_equal(s[2], rope[2], what + " axis 2");
      }
}

BOOST_AUTO_TEST_CASE(index_axis_is_never_scaled) {
  for (Method m : dype::all_methods()) {
    const auto s = dype::compute_spectrum(dype::MethodConfig::defaults(m), kFlux, {512u, 256u, 256u}, 1.0);
    const auto rope = spectrum(Method::rope, 1024, 1024, 1.0);
    check_axis_equal(s[0], rope[0], std::string(dype::method_name(m)) + " axis 0");
  }
}

BOOST_AUTO_TEST_CASE(non_square_targets_scale_each_axis_independently) {
  for (Method m : dype::all_methods())
    for (double t : {1.0, 0.5, 0.104492}) {
      const auto tall_wide = spectrum(m, 2048, 3072, t);
      const auto square_h = spectrum(m, 2048, 2048, t);
      const auto square_w = spectrum(m, 3072, 3072, t);
      const std::string what = std::string(dype::method_name(m)) + " t=" + std::to_string(t);
      check_axis_equal(tall_wide[1], square_h[1], what + " rows");
      check_axis_equal(tall_wide[2], square_w[2], what + " cols");
    }
  // Different scales give different spectra (so the comparison above can fail).
  const auto s = spectrum(Method::yarn, 2048, 3072, 1.0);
  BOOST_CHECK_GT(axis_deviation(s[1], s[2]), 1e-3);
  BOOST_CHECK_LT(s[1].amplitude, s[2].amplitude);
}

BOOST_AUTO_TEST_CASE(isotropic_uses_the_largest_ratio_on_every_spatial_axis) {
  auto config = dype::MethodConfig::defaults(Method::yarn);
  config.isotropic = true;
  const auto iso = dype::compute_spectrum(config, kFlux, target_px(2048, 3072), 1.0);
  const auto square = spectrum(Method::yarn, 3072, 3072, 1.0);
  check_axis_equal(iso[1], square[1], "isotropic rows");
  check_axis_equal(iso[2], square[2], "isotropic cols");
  // An axis below the base is scaled too in isotropic mode.
  const auto iso_small = dype::compute_spectrum(config, kFlux, target_px(512, 4096), 1.0);
  check_axis_equal(iso_small[1], spectrum(Method::yarn, 4096, 4096, 1.0)[1], "isotropic small rows");
}

BOOST_AUTO_TEST_CASE(finite_for_all_t_and_ratios_up_to_64) {
  const uint32_t base = kFlux.base_extent[1];
  for (Method m : dype::all_methods())
    for (uint32_t tokens : {1u, 63u, 64u, 65u, 85u, 100u, 128u, 1000u, 2047u, 4096u})
      for (int step = 0; step <= 200; ++step) {
        const double t = step / 200.0;
        const auto s = dype::compute_spectrum(dype::MethodConfig::defaults(m), kFlux, {1u, tokens, base * 64 / tokens + 1}, t);
        for (const auto& axis : s) {
          BOOST_REQUIRE(std::isfinite(axis.amplitude) && axis.amplitude >= 1.0);
          for (double f : axis.freqs)
            BOOST_REQUIRE_MESSAGE(std::isfinite(f) && f > 0.0 && f <= 1.0,
                                  dype::method_name(m) << " tokens=" << tokens << " t=" << t << ": f=" << f);
        }
      }
  for (double t : {1e-300, 1e-12, std::nextafter(1.0, 0.0)})
    for (Method m : dype::all_methods())
      for (const auto& axis : spectrum(m, 65536, 65536, t))
        for (double f : axis.freqs) BOOST_REQUIRE(std::isfinite(f) && f > 0.0);
}

BOOST_AUTO_TEST_CASE(yarn_amplitude_is_the_official_mscale) {
  const auto s = spectrum(Method::dy_yarn, 2048, 4096, 0.3);
  BOOST_CHECK_EQUAL(s[0].amplitude, 1.0);
  BOOST_CHECK_EQUAL(s[1].amplitude, 0.1 * std::log(2.0) + 1.0);
  BOOST_CHECK_EQUAL(s[2].amplitude, 0.1 * std::log(4.0) + 1.0);
  for (Method m : {Method::rope, Method::pi, Method::dy_pi, Method::ntk, Method::dy_ntk})
    for (const auto& axis : spectrum(m, 4096, 4096, 1.0)) BOOST_CHECK_EQUAL(axis.amplitude, 1.0);
  auto config = dype::MethodConfig::defaults(Method::yarn);
  config.mscale_coefficient = 0.2;
  config.mscale_offset = 0.9;
  BOOST_CHECK_EQUAL(dype::compute_spectrum(config, kFlux, target_px(2048, 2048), 1.0)[1].amplitude,
                    0.2 * std::log(2.0) + 0.9);
}

BOOST_AUTO_TEST_CASE(pi_and_ntk_formulas) {
  const auto rope = spectrum(Method::rope, 1024, 1024, 1.0);
  const auto pi = spectrum(Method::pi, 4096, 2048, 1.0);
  for (std::size_t j = 0; j < rope[1].freqs.size(); ++j) {
    BOOST_CHECK_LE(relative_error(pi[1].freqs[j], rope[1].freqs[j] / 4.0), 1e-15);
    BOOST_CHECK_LE(relative_error(pi[2].freqs[j], rope[2].freqs[j] / 2.0), 1e-15);
  }
  // dy-pi: f / s^(2 t^2); at t = 0.5, s = 4: f / 4^0.5 = f / 2.
  const auto dy_pi = spectrum(Method::dy_pi, 4096, 4096, 0.5);
  for (std::size_t j = 0; j < rope[1].freqs.size(); ++j)
    BOOST_CHECK_LE(relative_error(dy_pi[1].freqs[j], rope[1].freqs[j] / 2.0), 1e-15);
  // ntk: theta' = theta * s^(d/(d-2)); research notes: theta'(s=4) = 42107.408106.
  const auto ntk = spectrum(Method::ntk, 4096, 4096, 1.0);
  const double d = 56.0;
  for (std::size_t j = 0; j < ntk[1].freqs.size(); ++j)
    BOOST_CHECK_LE(relative_error(ntk[1].freqs[j], std::pow(42107.408106, -2.0 * double(j) / d)), 1e-9);
}

BOOST_AUTO_TEST_CASE(base_override_moves_the_trained_extent) {
  auto config = dype::MethodConfig::defaults(Method::dy_yarn);
  config.base_resolution = 2048;  // 128 tokens: a 4096 px image is s = 2
  const auto by_px = dype::compute_spectrum(config, kFlux, target_px(4096, 4096), 0.5);
  config.base_resolution.reset();
  config.base_extent = 128;
  const auto by_tokens = dype::compute_spectrum(config, kFlux, target_px(4096, 4096), 0.5);
  dype::Layout trained_at_2048 = kFlux;
  trained_at_2048.base_extent = {1, 128, 128};
  const auto by_layout = dype::compute_spectrum(dype::MethodConfig::defaults(Method::dy_yarn), trained_at_2048,
                                                target_px(4096, 4096), 0.5);
  for (std::size_t a = 0; a < by_px.size(); ++a) {
    check_axis_equal(by_px[a], by_layout[a], "base_resolution axis " + std::to_string(a));
    check_axis_equal(by_tokens[a], by_layout[a], "base_extent axis " + std::to_string(a));
  }
  BOOST_CHECK_EQUAL(by_px[1].amplitude, 0.1 * std::log(2.0) + 1.0);
}

BOOST_AUTO_TEST_CASE(lambda_parameters_shape_the_schedule) {
  // dy-ntk with lambda_s = 1, lambda_t = 1 at t = 1 is static NTK.
  auto config = dype::MethodConfig::defaults(Method::dy_ntk);
  config.lambda_s = 1.0;
  config.lambda_t = 1.0;
  const auto dy = dype::compute_spectrum(config, kFlux, target_px(4096, 4096), 1.0);
  const auto st = spectrum(Method::ntk, 4096, 4096, 1.0);
  for (std::size_t a = 0; a < dy.size(); ++a) BOOST_CHECK_LE(axis_deviation(dy[a], st[a]), 1e-15);
  BOOST_CHECK_EQUAL(dype::kappa(config, 0.5), 0.5);
  BOOST_CHECK_EQUAL(dype::kappa(dype::MethodConfig::defaults(Method::dy_yarn), 0.5), 0.25);
  BOOST_CHECK_EQUAL(dype::kappa(dype::MethodConfig::defaults(Method::dy_yarn_legacy), 0.5), 0.5);
}

BOOST_AUTO_TEST_CASE(correction_ranges_match_the_research_notes) {
  // L = 64, d = 56, theta = 1e4: beta range (6, 8), gamma range (0, 5) for static YaRN.
  const auto beta = dype::correction_range(1.25, 0.75, 56, 10000.0, 64.0);
  const auto gamma = dype::correction_range(16.0, 2.0, 56, 10000.0, 64.0);
  BOOST_CHECK_EQUAL(beta.low, 6.0);
  BOOST_CHECK_EQUAL(beta.high, 8.0);
  BOOST_CHECK_EQUAL(gamma.low, 0.0);
  BOOST_CHECK_EQUAL(gamma.high, 5.0);
  // kappa -> 0: the range saturates at dim/2 instead of overshooting it.
  const auto limit = dype::correction_range(0.0, 0.0, 56, 10000.0, 64.0);
  BOOST_CHECK_EQUAL(limit.low, 28.0);
  BOOST_CHECK_EQUAL(limit.high, 28.0);
  BOOST_CHECK_EQUAL(dype::linear_ramp(27, limit), 0.0f);
  BOOST_CHECK_EQUAL(dype::linear_ramp(7, {6.0, 9.0}), 1.0f / 3.0f);
}

BOOST_AUTO_TEST_CASE(bad_queries_are_rejected_with_the_field_named) {
  const auto config = dype::MethodConfig::defaults(Method::dy_yarn);
  auto expect = [&](const dype::Layout& layout, std::vector<uint32_t> target, double t, genplug_status code,
                    const std::string& needle) {
    try {
      dype::compute_spectrum(config, layout, target, t);
      BOOST_ERROR("no error for " << needle);
    } catch (const genplug::Error& e) {
      BOOST_CHECK_EQUAL(e.code(), code);
      BOOST_CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
  };
  dype::Layout odd = kFlux;
  odd.axis_dims[1] = 55;
  expect(odd, {1, 64, 64}, 1.0, GENPLUG_E_INVALID_ARGUMENT, "layout.axis_dims[1]");
  expect(kFlux, {1, 64, 0}, 1.0, GENPLUG_E_INVALID_ARGUMENT, "query.target_extent[2]");
  dype::Layout zero_base = kFlux;
  zero_base.base_extent[1] = 0;
  expect(zero_base, {1, 64, 64}, 1.0, GENPLUG_E_INVALID_ARGUMENT, "layout.base_extent[1]");
  expect(kFlux, {1, 64, 64}, 1.5, GENPLUG_E_INVALID_ARGUMENT, "query.t");
  expect(kFlux, {1, 64, 64}, -0.1, GENPLUG_E_INVALID_ARGUMENT, "query.t");
  expect(kFlux, {1, 64, 64}, std::nan(""), GENPLUG_E_INVALID_ARGUMENT, "query.t");
  dype::Layout bad_theta = kFlux;
  bad_theta.theta = 1.0;
  expect(bad_theta, {1, 64, 64}, 1.0, GENPLUG_E_INVALID_ARGUMENT, "layout.theta");
  expect(kFlux, {1, 64}, 1.0, GENPLUG_E_INVALID_ARGUMENT, "query.target_extent");

  // Short buffers: BUFFER_TOO_SMALL naming the needed size, nothing written.
  const genplug_rotary_layout_t view = kFlux.view();
  const uint32_t target[] = {1, 128, 128};
  std::vector<double> freqs(kFlux.freq_count() - 1, -7.0), amplitude(3, -7.0);
  try {
    dype::compute_spectrum(config, view, target, 1.0, freqs.data(), freqs.size(), amplitude.data(), 3);
    BOOST_ERROR("short freq buffer accepted");
  } catch (const genplug::Error& e) {
    BOOST_CHECK_EQUAL(e.code(), GENPLUG_E_BUFFER_TOO_SMALL);
    BOOST_CHECK_MESSAGE(std::string(e.what()).find("64 needed") != std::string::npos, e.what());
  }
  BOOST_CHECK(std::all_of(freqs.begin(), freqs.end(), [](double v) { return v == -7.0; }));
  freqs.resize(kFlux.freq_count());
  try {
    dype::compute_spectrum(config, view, target, 1.0, freqs.data(), freqs.size(), amplitude.data(), 2);
    BOOST_ERROR("short amplitude buffer accepted");
  } catch (const genplug::Error& e) {
    BOOST_CHECK_EQUAL(e.code(), GENPLUG_E_BUFFER_TOO_SMALL);
    BOOST_CHECK_MESSAGE(std::string(e.what()).find("3 needed") != std::string::npos, e.what());
  }
  // base_resolution smaller than one token.
  auto tiny = config;
  tiny.base_resolution = 8;
  BOOST_CHECK_THROW(dype::compute_spectrum(tiny, kFlux, {1, 64, 64}, 1.0), genplug::InvalidArgument);
}

BOOST_AUTO_TEST_CASE(bf16_pipeline_rounding_reproduces_the_official_t) {
  // golden schedule/schedules.json "dype_pipeline_diffusers": sigmas and the t DyPE's set_timestep receives.
  const json doc = genplug::test::read_json(genplug::test::golden("schedule/schedules.json"));
  const json& runs = doc.at("dype_pipeline_diffusers");
  BOOST_REQUIRE_GT(runs.size(), 0u);
  auto bf16 = dype::MethodConfig::defaults(Method::dy_yarn);
  bf16.t_rounding = dype::TimeRounding::bf16_pipeline;
  const auto exact = dype::MethodConfig::defaults(Method::dy_yarn);
  std::size_t checked = 0, moved = 0, movable = 0;
  for (const json& run : runs) {
    const auto sigmas = run.at("sigmas").get<std::vector<double>>();
    const auto expected = run.at("dype_t_bf16_pipeline").get<std::vector<double>>();
    BOOST_REQUIRE_LE(expected.size(), sigmas.size());
    for (std::size_t i = 0; i < expected.size(); ++i, ++checked) {
      BOOST_CHECK_MESSAGE(dype::effective_t(bf16, sigmas[i]) == expected[i],
                          "sigma " << sigmas[i] << ": " << dype::effective_t(bf16, sigmas[i]) << " vs " << expected[i]);
      BOOST_CHECK_EQUAL(dype::effective_t(exact, sigmas[i]), sigmas[i]);
      moved += expected[i] != sigmas[i];
      const float s32 = static_cast<float>(sigmas[i]);
      movable += dype::round_to_bf16(s32) != s32;
    }
  }
  // The rounding really changes values wherever sigma is no bfloat16 value.
  if (movable > 0) BOOST_CHECK_GT(moved, 0u);
  // The spectrum with rounding at sigma is the exact spectrum at the rounded t.
  const double sigma = runs[0].at("sigmas")[1].get<double>();
  const auto rounded = dype::compute_spectrum(bf16, kFlux, target_px(4096, 4096), sigma);
  const auto direct = dype::compute_spectrum(exact, kFlux, target_px(4096, 4096), dype::effective_t(bf16, sigma));
  for (std::size_t a = 0; a < rounded.size(); ++a) check_axis_equal(rounded[a], direct[a], "bf16 axis " + std::to_string(a));
  BOOST_CHECK_EQUAL(dype::round_to_bf16(1.0f + 1.0f / 512.0f), 1.0f);  // tie -> even
  BOOST_CHECK_EQUAL(dype::round_to_bf16(1.0f + 3.0f / 512.0f), 1.0f + 4.0f / 512.0f);
}
