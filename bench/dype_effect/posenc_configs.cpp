// The position-encoding configs the benchmark compares (docs/dype-effect.md section 1, "Configs"): each method with
// the DyPE plugin's official defaults, the full set's ablation row, and rows read from files (a calibrated schedule
// written by genplug-dype-calibrate, section 6).
#include <cctype>
#include <fstream>
#include <stdexcept>

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

Config config_from_file(const std::string& spec) {
  const std::size_t equals = spec.find('=');
  if (equals == 0 || equals == std::string::npos || equals + 1 == spec.size())
    throw std::invalid_argument("--posenc " + spec + ": expected NAME=FILE");
  Config c{spec.substr(0, equals), nullptr, {}};
  // The name becomes part of file names (cells/<size>/<config>/, the jobs' EXRs).
  for (char ch : c.name)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.')
      throw std::invalid_argument("--posenc " + spec + ": NAME may hold letters, digits, '-', '_' and '.' only");
  const std::string file = spec.substr(equals + 1);
  std::ifstream in(file);
  if (!in) throw std::invalid_argument("--posenc " + spec + ": cannot read " + file);
  c.posenc = nlohmann::json::parse(in, nullptr, false);
  if (!c.posenc.is_object() || !c.posenc.contains("plugin") || !c.posenc.at("plugin").is_string() ||
      (c.posenc.contains("config") && !c.posenc.at("config").is_object()))
    throw std::invalid_argument("--posenc " + spec + ": " + file + " is not a posenc ref ({\"plugin\": ID, "
                                "\"config\": {...}})");
  return c;
}

}  // namespace genplug::dype_effect
