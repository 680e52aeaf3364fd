// genplug-dype-calibrate (docs/dype-effect.md section 6): fits the shape of a dynamic DyPE method's schedule to a
// model at one target size, on calibration units disjoint from the benchmark's.
//
//  1. Settling: renders switch configs C_k (settle.hpp) with the static methods pi, ntk and yarn and M's official
//     config beside them, and finds the step k* after which layout no longer depends on the interpolation.
//  2. Sweep: renders the schedule shapes around sigma_settle = tau_{k*} (settle.hpp sweep_shapes) and picks one by
//     settle.hpp's rule; when the model does not settle (interpolation does not help layout) the official config
//     is kept with reason "no_layout_benefit".
//
// Writes into `out`: <method>-<size>.json (the manifest's posenc ref, usable as is), <method>-<size>.report.json
// (the curve, the sweep, the rule's trace) and <method>-<size>.md (the same as tables).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace genplug::dype_effect {

struct CalibrationOptions {
  std::string method = "dy-yarn";  // a dynamic method: dy-pi, dy-ntk, dy-yarn, dy-yarn-legacy
  std::string size = "2x";         // the target: a benchmark size other than 1x
  int units = 32;
  int stride = 2;                  // switch points every `stride` evaluations (and always the last)
  // Sweep around this sigma instead of the measured settling point (the curve is still measured and reported).
  std::optional<double> settle_sigma;
  std::optional<std::uint32_t> steps;
  std::filesystem::path out = "calibration";
  std::string model = R"({"preset": "mini"})";
  std::vector<std::filesystem::path> plugin_path;
  std::vector<std::string> arguments;  // the command line, for the report
};

// Calibration unit i: scene sample_scene(5 000 000 + i), noise seed 100 000 + i.
inline constexpr std::uint64_t calibration_scene_seed_base = 5000000;
inline constexpr std::uint64_t calibration_noise_seed_base = 100000;

// Returns the path of the written posenc file. Throws on errors (bad options included).
std::filesystem::path run_calibration(const CalibrationOptions& options);

}  // namespace genplug::dype_effect
