// libFuzzer target: org.genplug.dype's config parser (plugins/dype/src/config.cpp) on arbitrary text, directly
// and through the host's schema validation (config_fuzz.hpp); an accepted config is printed back, parsed again
// (it must give the same config) and used for a few spectra of the FLUX layout: each finite, or refused for a
// lambda_s whose dynamic factor overflows at that size (docs/dype.md), and for nothing else.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <genplug/dype/config.hpp>
#include <genplug/dype/spectrum.hpp>
#include <genplug/plugin.hpp>

#include "config_fuzz.hpp"

namespace gd = genplug::dype;
namespace gf = genplug::fuzz;

namespace {

const genplug::host::JsonSchema* schema = nullptr;
const uint8_t* current_data = nullptr;
std::size_t current_size = 0;

void use(const gd::MethodConfig& config) {
  const std::string canonical = gd::config_to_json(config);
  if (gd::config_to_json(gd::parse_config(canonical)) != canonical) __builtin_trap();
  static const gd::Layout layout = gd::Layout::flux();
  for (const std::vector<uint32_t>& extent : {std::vector<uint32_t>{1, 64, 64}, {1, 128, 96}, {1, 32, 512}})
    for (double t : {0.0, 0.03, 0.5, 1.0}) {
      std::vector<gd::AxisSpectrum> spectrum;
      try {
        spectrum = gd::compute_spectrum(config, layout, extent, t);
      } catch (const genplug::InvalidArgument& e) {
        if (std::string(e.what()).rfind("config.lambda_s: ", 0) != 0)
          gf::finding("dype_config", "accepted config " + canonical + " refused: " + e.what(), current_data,
                      current_size);
        continue;
      }
      for (const gd::AxisSpectrum& axis : spectrum) {
        bool finite = std::isfinite(axis.amplitude);
        for (double f : axis.freqs) finite = finite && std::isfinite(f);
        if (!finite)
          gf::finding("dype_config", "non-finite spectrum for the accepted config " + canonical, current_data,
                      current_size);
      }
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  schema = new genplug::host::JsonSchema(nlohmann::json::parse(gd::config_schema()));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  current_data = data, current_size = size;
  gf::fuzz_config("dype_config", *schema, data, size, gd::parse_config, use);
  return 0;
}
