// The two rendering phases of genplug-dype-calibrate (calibrate.hpp): the settling curve, then the sweep of schedule
// shapes. Each builds a one-size experiment on the calibration units, reads the plugins' facts (pinned mu, sigmas,
// spectra: configs with equal spectra are rendered once), renders through the reference host and scores every
// picture as the benchmark does (render_record.hpp).
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "calibrate.hpp"
#include "experiment.hpp"
#include "settle.hpp"

namespace genplug::dype_effect {

struct SettlePhase {
  std::vector<double> sigmas;  // the target size's, mu pinned as in the benchmark
  double mu = 0;
  std::uint32_t steps = 0;
  std::vector<SwitchPoint> points;
  std::vector<Estimate> layout;        // L(k) per point
  std::vector<double> objects_right;   // per point
  std::map<std::string, ShapeScores> statics;  // pi, ntk, yarn (their `shape` is unused)
  double best_static_objects_right = 0;
  ShapeScores official;                // method M with its official schedule
  Settling settling;                   // measured on the curve
};

SettlePhase run_settle_phase(const CalibrationOptions& options, const Size& size, const nlohmann::json& model_config);

// The scores of sweep_shapes(around), in that order; the official shape's are settle.official (rendered in the
// first phase on the same units), the others are rendered here.
std::vector<ShapeScores> run_sweep_phase(const CalibrationOptions& options, const Size& size,
                                         const nlohmann::json& model_config, const SettlePhase& settle,
                                         const Settling& around);

}  // namespace genplug::dype_effect
