// The position-encoding configs the benchmark compares (docs/dype-effect.md section 1, "Configs"): each method with
// the DyPE plugin's official defaults, the full set's ablation row, and rows read from files (a calibrated schedule
// written by genplug-dype-calibrate, section 6).
#include <cctype>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <genplug/internal/bounded_json.hpp>

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

namespace {

// The name becomes part of file names (cells/<size>/<config>/, the jobs' EXRs): a letter or digit first (no "."
// or ".."), then letters, digits, '-', '_' and '.'.
bool usable_name(const std::string& name) {
  if (name.empty() || !std::isalnum(static_cast<unsigned char>(name.front()))) return false;
  for (char ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') return false;
  return true;
}

// A posenc ref is small: a regular file (not a folder or a FIFO, which would block) of at most 1 MiB, parsed
// with its nesting bounded (a deep value overflows the stack when copied), holding "plugin" and "config" only.
nlohmann::json read_posenc_ref(const std::string& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) throw std::invalid_argument("not a regular file");
  if (std::filesystem::file_size(file, ec) > (1u << 20)) throw std::invalid_argument("larger than 1 MiB");
  std::ifstream in(file);
  if (!in) throw std::invalid_argument("unreadable");
  nlohmann::json ref;
  try {
    ref = internal::parse_bounded_json(in);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("not JSON: ") + internal::json_error_text(e));  // without nlohmann's tag
  }
  const bool shaped = ref.is_object() && ref.contains("plugin") && ref.at("plugin").is_string() &&
                      (!ref.contains("config") || ref.at("config").is_object()) &&
                      ref.size() == 1 + std::size_t(ref.contains("config"));
  if (!shaped) throw std::invalid_argument("not a posenc ref ({\"plugin\": ID, \"config\": {...}})");
  return ref;
}

}  // namespace

Config config_from_file(const std::string& spec) {
  const std::size_t equals = spec.find('=');
  if (equals == 0 || equals == std::string::npos || equals + 1 == spec.size())
    throw std::invalid_argument("--posenc " + spec + ": expected NAME=FILE");
  Config c{spec.substr(0, equals), nullptr, {}};
  if (!usable_name(c.name))
    throw std::invalid_argument("--posenc " + spec + ": NAME must start with a letter or digit and hold letters, "
                                "digits, '-', '_' and '.' only");
  const std::string file = spec.substr(equals + 1);
  try {
    c.posenc = read_posenc_ref(file);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("--posenc " + spec + ": " + file + " is " + e.what());
  }
  return c;
}

}  // namespace genplug::dype_effect
