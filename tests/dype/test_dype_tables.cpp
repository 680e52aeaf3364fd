// The cos/sin tables a model builds from the plugin's spectrum match the official FluxPosEmbed output to
// 1e-6 (golden dype/tables.safetensors; case list in dype/tables.json, layout in dype/cases.json "meta").
// Tables are built exactly as a model would: angle = float64(pos) * freq in float64, cos/sin rounded to
// float32, then a float32 multiply by float32(amplitude); each value repeated for the pair (2k, 2k+1).
#define BOOST_TEST_MODULE dype_tables
#include <boost/test/unit_test.hpp>

#include <algorithm>

#include <genplug/safetensors.hpp>

#include "dype_support.hpp"

using namespace dype_test;
namespace dype = genplug::dype;
namespace st = genplug::safetensors;

namespace {

constexpr double kTolerance = 1e-6;

struct Tables {
  std::vector<float> cos, sin;
};

// rows x (2 * freq_count) tables for position ids `ids` (rows x axis_count, float32).
Tables build_tables(const std::vector<dype::AxisSpectrum>& spectrum, const std::vector<float>& ids,
                    std::size_t rows) {
  const std::size_t axes = spectrum.size();
  std::size_t width = 0;
  for (const auto& a : spectrum) width += a.freqs.size() * 2;
  Tables t;
  t.cos.resize(rows * width);
  t.sin.resize(rows * width);
  for (std::size_t r = 0; r < rows; ++r) {
    std::size_t col = 0;
    for (std::size_t a = 0; a < axes; ++a) {
      const double pos = double(ids[r * axes + a]);
      const float amplitude = float(spectrum[a].amplitude);
      for (double f : spectrum[a].freqs) {
        const double angle = pos * f;
        const float c = float(std::cos(angle)) * amplitude;
        const float s = float(std::sin(angle)) * amplitude;
        for (int k = 0; k < 2; ++k, ++col) {
          t.cos[r * width + col] = c;
          t.sin[r * width + col] = s;
        }
      }
    }
  }
  return t;
}

double max_abs_error(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

}  // namespace

BOOST_AUTO_TEST_CASE(tables_from_the_spectrum_match_the_official_cos_sin) {
  const json meta = genplug::test::read_json(genplug::test::golden("dype/cases.json")).at("meta");
  const json cases = genplug::test::read_json(genplug::test::golden("dype/tables.json"));
  const auto file = st::File::open(genplug::test::golden("dype/tables.safetensors"));
  const dype::Layout layout = golden_layout(meta);
  BOOST_REQUIRE_GT(cases.size(), 0u);
  double worst = 0.0;
  std::size_t checked = 0;
  for (const json& c : cases) {
    if (in_documented_deviation(c, layout)) continue;  // as test_dype_golden
    ++checked;
    const std::string key = c.at("key").get<std::string>();
    const st::TensorInfo& ids_info = file->at(key + ".ids");
    const st::TensorInfo& cos_info = file->at(key + ".cos");
    const st::TensorInfo& sin_info = file->at(key + ".sin");
    BOOST_REQUIRE_EQUAL(ids_info.shape.size(), 2u);
    BOOST_REQUIRE_EQUAL(std::size_t(ids_info.shape[1]), layout.axis_dims.size());
    const std::size_t rows = std::size_t(ids_info.shape[0]);
    BOOST_REQUIRE_EQUAL(cos_info.shape.size(), 2u);
    BOOST_REQUIRE_EQUAL(std::size_t(cos_info.shape[0]), rows);
    BOOST_REQUIRE_EQUAL(std::size_t(cos_info.shape[1]), 2 * layout.freq_count());
    BOOST_REQUIRE(sin_info.shape == cos_info.shape);

    const auto config = dype::MethodConfig::defaults(golden_method(c));
    const auto spectrum = dype::compute_spectrum(config, layout, golden_target(c), c.at("t").get<double>());
    const Tables got = build_tables(spectrum, st::to_float32(ids_info), rows);
    const double err_cos = max_abs_error(got.cos, st::to_float32(cos_info));
    const double err_sin = max_abs_error(got.sin, st::to_float32(sin_info));
    BOOST_CHECK_MESSAGE(err_cos <= kTolerance, key << " (" << describe(c) << ") cos off by " << err_cos);
    BOOST_CHECK_MESSAGE(err_sin <= kTolerance, key << " (" << describe(c) << ") sin off by " << err_sin);
    worst = std::max({worst, err_cos, err_sin});
  }
  BOOST_TEST_MESSAGE("checked " << checked << " of " << cases.size() << " table cases; largest abs error " << worst);
  BOOST_TEST(checked > 0u);
}
