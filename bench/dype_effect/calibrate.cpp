#include "calibrate.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include <genplug/internal/bounded_json.hpp>

#include "calibration_phases.hpp"
#include "calibration_report.hpp"
#include "progress.hpp"

namespace genplug::dype_effect {
namespace {

const std::vector<std::string> kDynamicMethods = {"dy-pi", "dy-ntk", "dy-yarn", "dy-yarn-legacy"};

Size target_size(const std::string& label) {
  if (label == "1x")
    throw std::invalid_argument("--size 1x: no axis is scaled at the training size, so there is nothing to "
                                "calibrate");
  for (const Size& s : known_sizes())
    if (s.label == label) return s;
  throw std::invalid_argument("unknown size '" + label + "' (known: 2x, 3x, 4x, 4x1, 1x3)");
}

void check_options(const CalibrationOptions& o) {
  if (std::find(kDynamicMethods.begin(), kDynamicMethods.end(), o.method) == kDynamicMethods.end())
    throw std::invalid_argument("--method " + o.method + ": not a dynamic method (dy-pi, dy-ntk, dy-yarn, "
                                "dy-yarn-legacy)");
  if (o.units < 2) throw std::invalid_argument("--units must be at least 2 (the intervals resample units)");
  if (o.stride < 1) throw std::invalid_argument("--stride must be at least 1");
  if (o.settle_sigma && !(*o.settle_sigma > 0 && *o.settle_sigma < 1))
    throw std::invalid_argument("--settle-sigma must be in (0, 1), got " + std::to_string(*o.settle_sigma));
}

// The point the sweep runs around: the measured one, or --settle-sigma's.
Settling sweep_point(const CalibrationOptions& o, const Settling& measured) {
  if (!o.settle_sigma) return measured;
  Settling given = measured;
  given.settled = true, given.k = -1, given.sigma = *o.settle_sigma, given.reason = "given by --settle-sigma";
  return given;
}

// The sweep and the rule, or the official schedule when the model did not settle.
void choose_shape(const CalibrationOptions& o, const Size& size, const nlohmann::json& model_config,
                  CalibrationResult& r) {
  const Settling& settling = r.sweep_around;
  if (settling.settled) {
    r.sweep = run_sweep_phase(o, size, model_config, r.settle, settling);
    const Estimate& settled_layout = r.settle.layout.back();
    r.selection = select_shape(r.sweep, r.settle.best_static_objects_right, settled_layout.mean, settling.delta);
  } else {
    r.selection.reason = "the model does not settle layout at this size (" + settling.reason +
                         "): the official schedule is kept";
    r.selection.trace = nlohmann::json::array();
  }
  r.chosen = r.selection.index ? r.sweep.at(*r.selection.index) : r.settle.official;
  r.posenc = shape_posenc(o.method, r.selection.shape);
}

}  // namespace

std::filesystem::path run_calibration(const CalibrationOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  check_options(o);
  const Size size = target_size(o.size);
  const nlohmann::json model_config = internal::parse_bounded_json(o.model);
  std::fprintf(stderr, "genplug-dype-calibrate: %s at %s, %d units; phase 1 of 2: when the model settles layout\n",
               o.method.c_str(), size.label.c_str(), o.units);
  CalibrationResult r;
  r.method = o.method, r.size = size, r.units = o.units;
  r.settle = run_settle_phase(o, size, model_config);
  r.sweep_around = sweep_point(o, r.settle.settling);
  std::fprintf(stderr, "genplug-dype-calibrate: measured %s; phase 2 of 2: %s\n", r.settle.settling.reason.c_str(),
               r.sweep_around.settled ? ("the sweep around sigma " + std::to_string(r.sweep_around.sigma)).c_str()
                                      : "skipped");
  choose_shape(o, size, model_config, r);
  r.seconds = seconds_since(start);
  const std::filesystem::path written = write_calibration(o.out, r, o.arguments);
  std::fprintf(stderr, "genplug-dype-calibrate: %s in %s: %s -> %s\n",
               r.selection.official ? "official kept" : "calibrated", clock_text(r.seconds).c_str(),
               r.posenc.dump().c_str(), written.string().c_str());
  return written;
}

}  // namespace genplug::dype_effect
