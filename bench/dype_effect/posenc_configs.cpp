// The position-encoding configs the benchmark compares (docs/dype-effect.md section 1, "Configs"): each method with
// the DyPE plugin's official defaults, and the full set's ablation row. The calibrated row (dy-yarn-cal, section 6)
// is not part of this program yet.
#include "experiment.hpp"

namespace genplug::dype_effect {

nlohmann::json posenc_of_method(const std::string& method) {
  return {{"plugin", "org.genplug.dype"}, {"config", {{"method", method}}}};
}

std::vector<Config> ablation_configs() {
  // YaRN without its attention temperature (amplitude 0.1 ln s + 1 -> 1): on the mini model static yarn is PI plus
  // that amplitude (section 0), so this row separates the two.
  return {{"yarn-no-mscale",
           {{"plugin", "org.genplug.dype"}, {"config", {{"method", "yarn"}, {"mscale_coefficient", 0}}}},
           {"2x", "4x"}}};
}

}  // namespace genplug::dype_effect
