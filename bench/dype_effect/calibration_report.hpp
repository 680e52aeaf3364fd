// What genplug-dype-calibrate writes (calibrate.hpp): the chosen posenc ref, the report as JSON and as Markdown
// tables (the settling curve, the static methods, the sweep with the rule's verdict per shape, official vs chosen).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "calibration_phases.hpp"

namespace genplug::dype_effect {

struct CalibrationResult {
  std::string method;
  Size size;
  int units = 0;
  SettlePhase settle;
  Settling sweep_around;           // settle.settling, or the point --settle-sigma gave
  std::vector<ShapeScores> sweep;  // empty when the model did not settle
  Selection selection;
  ShapeScores chosen;              // the selected shape's scores (the official's when it is kept)
  nlohmann::json posenc;           // the manifest's posenc ref of the chosen shape
  double seconds = 0;
};

nlohmann::json report_json(const CalibrationResult& result, const std::vector<std::string>& arguments);
std::string report_markdown(const CalibrationResult& result);

// <out>/<method>-<size>.{json,report.json,md}; returns the posenc file's path. Each file is written under a
// temporary name and renamed, so a reader never sees half of one; an earlier run's three are removed first, so the
// folder never holds two runs' files for one method and size.
std::filesystem::path write_calibration(const std::filesystem::path& out, const CalibrationResult& result,
                                        const std::vector<std::string>& arguments);

}  // namespace genplug::dype_effect
