// What the DyPE resolution benchmark renders (docs/dype-effect.md section 1): sizes, position-encoding configs
// and units (a grammar scene, its prompt and a noise seed), for the reduced and the full set.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "scene.hpp"

namespace genplug::dype_effect {

// A render size: label ("2x", "4x1"), pixels. The model was trained at 128 x 128.
struct Size {
  std::string label;
  int width = 0;
  int height = 0;
};

// A position-encoding config: its row name and the manifest's posenc plugin ref. `sizes` lists the size labels it
// is rendered at (empty: every size), for ablation rows that exist at some sizes only.
struct Config {
  std::string name;
  nlohmann::json posenc;
  std::vector<std::string> sizes;
};

// Unit i: scene sample_scene(2 000 000 + i), its canonical prompt, noise seed i. Every size and config renders
// the same units, so differences are paired per unit within a size.
struct Unit {
  int index = 0;
  std::uint64_t scene_seed = 0;
  mini::Scene scene;
  std::string prompt;
  std::uint64_t noise_seed = 0;
};

inline constexpr std::uint64_t unit_scene_seed_base = 2000000;
// R_ind, the distribution the SWD compares with: exact renders of sample_scene(9 000 000 + i).
inline constexpr std::uint64_t independent_scene_seed_base = 9000000;
// The training frame's side in pixels (the mini model: 8 x 8 tokens of 16 px).
inline constexpr int training_side = 128;
// The first units, shown in the grids.
inline constexpr int grid_units = 8;

struct Experiment {
  std::string set;                 // "reduced" or "full"
  std::vector<Size> sizes;
  std::vector<Config> configs;     // in row order
  std::vector<Unit> units;
  std::optional<std::uint32_t> steps;  // absent: the model's default
};

// What the command line chose; empty lists and absent values take the set's defaults.
struct ExperimentChoice {
  std::string set = "reduced";
  std::optional<int> units;
  std::vector<std::string> sizes;
  std::vector<std::string> methods;
  std::vector<Config> extra_configs;  // rows after the methods' (--posenc NAME=FILE), at every size
  std::optional<std::uint32_t> steps;
};

// The six sizes of the plan: 1x 128^2, 2x 256^2, 3x 384^2, 4x 512^2, 4x1 512 x 128, 1x3 128 x 384.
const std::vector<Size>& known_sizes();
// The eight methods of the DyPE plugin, in row order.
const std::vector<std::string>& known_methods();

// The reduced set: 64 units x {1x, 2x, 4x1, 1x3} x the eight methods. The full set: 512 units x all six sizes x
// the eight methods, plus the ablation row yarn-no-mscale at 2x and 4x. Throws std::invalid_argument for an
// unknown set, size or method, a repeated one, or fewer than 1 unit.
Experiment make_experiment(const ExperimentChoice& choice);

// Units 0 .. count - 1 with scene seeds scene_seed_base + i and noise seeds noise_seed_base + i (the benchmark's
// by default; calibrate.hpp has the calibration's).
std::vector<Unit> make_units(int count, std::uint64_t scene_seed_base = unit_scene_seed_base,
                             std::uint64_t noise_seed_base = 0);
bool renders_at(const Config& config, const Size& size);

// posenc_configs.cpp: the manifest's posenc ref of a method with the official defaults, {"method": M}, and the
// full set's ablation rows.
nlohmann::json posenc_of_method(const std::string& method);
std::vector<Config> ablation_configs();
// A row from the command line: "NAME=FILE", FILE holding a manifest posenc ref ({"plugin": ..., "config": {...}}),
// e.g. genplug-dype-calibrate's output. Throws std::invalid_argument naming the spec for a malformed one.
Config config_from_file(const std::string& spec);

nlohmann::json to_json(const Size& size);
nlohmann::json to_json(const Unit& unit);

}  // namespace genplug::dype_effect
