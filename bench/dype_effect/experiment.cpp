#include "experiment.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "scene_sampler.hpp"

namespace genplug::dype_effect {
namespace {

const Size& size_named(const std::string& label) {
  for (const Size& s : known_sizes())
    if (s.label == label) return s;
  std::string known;
  for (const Size& s : known_sizes()) known += (known.empty() ? "" : ", ") + s.label;
  throw std::invalid_argument("unknown size '" + label + "' (known: " + known + ")");
}

template <class T>
void require_distinct(const std::vector<T>& values, const std::string& what) {
  std::set<T> seen;
  for (const T& v : values)
    if (!seen.insert(v).second) throw std::invalid_argument(what + " '" + v + "' given twice");
}

}  // namespace

const std::vector<Size>& known_sizes() {
  static const std::vector<Size> sizes = {{"1x", 128, 128}, {"2x", 256, 256}, {"3x", 384, 384},
                                          {"4x", 512, 512}, {"4x1", 512, 128}, {"1x3", 128, 384}};
  return sizes;
}

const std::vector<std::string>& known_methods() {
  static const std::vector<std::string> methods = {"rope", "pi", "ntk", "yarn", "dy-pi", "dy-ntk", "dy-yarn",
                                                   "dy-yarn-legacy"};
  return methods;
}

std::vector<Unit> make_units(int count, std::uint64_t scene_seed_base, std::uint64_t noise_seed_base) {
  std::vector<Unit> units;
  for (int i = 0; i < count; ++i) {
    Unit u;
    u.index = i;
    u.scene_seed = scene_seed_base + std::uint64_t(i);
    u.scene = mini::sample_scene(u.scene_seed);
    u.prompt = mini::prompt_of(u.scene);
    u.noise_seed = noise_seed_base + std::uint64_t(i);
    units.push_back(std::move(u));
  }
  return units;
}

Experiment make_experiment(const ExperimentChoice& choice) {
  if (choice.set != "reduced" && choice.set != "full")
    throw std::invalid_argument("unknown set '" + choice.set + "' (known: reduced, full)");
  const bool full = choice.set == "full";
  Experiment e;
  e.set = choice.set;
  e.steps = choice.steps;
  std::vector<std::string> sizes = choice.sizes;
  if (sizes.empty())
    sizes = full ? std::vector<std::string>{"1x", "2x", "3x", "4x", "4x1", "1x3"}
                 : std::vector<std::string>{"1x", "2x", "4x1", "1x3"};
  require_distinct(sizes, "size");
  for (const std::string& s : sizes) e.sizes.push_back(size_named(s));

  std::vector<std::string> methods = choice.methods.empty() ? known_methods() : choice.methods;
  require_distinct(methods, "method");
  for (const std::string& m : methods) {
    if (std::find(known_methods().begin(), known_methods().end(), m) == known_methods().end())
      throw std::invalid_argument("unknown method '" + m + "' (known: rope, pi, ntk, yarn, dy-pi, dy-ntk, dy-yarn, "
                                  "dy-yarn-legacy)");
    e.configs.push_back({m, posenc_of_method(m), {}});
  }
  if (full)
    for (Config& c : ablation_configs()) e.configs.push_back(std::move(c));
  for (const Config& c : choice.extra_configs) {
    for (const Config& earlier : e.configs)
      if (earlier.name == c.name)
        throw std::invalid_argument("config '" + c.name + "' given twice (a --posenc NAME must differ from the "
                                    "other rows' names)");
    e.configs.push_back(c);
  }

  const int units = choice.units.value_or(full ? 512 : 64);
  if (units < 1) throw std::invalid_argument("--units must be at least 1, got " + std::to_string(units));
  e.units = make_units(units);
  return e;
}

bool renders_at(const Config& config, const Size& size) {
  return config.sizes.empty() || std::find(config.sizes.begin(), config.sizes.end(), size.label) != config.sizes.end();
}

nlohmann::json to_json(const Size& size) {
  return {{"label", size.label}, {"width", size.width}, {"height", size.height},
          {"scale", {{"height", double(size.height) / training_side}, {"width", double(size.width) / training_side}}}};
}

nlohmann::json to_json(const Unit& unit) {
  return {{"index", unit.index}, {"scene_seed", unit.scene_seed}, {"prompt", unit.prompt}, {"noise_seed", unit.noise_seed}};
}

}  // namespace genplug::dype_effect
