// Aggregates per size x config and the paired comparisons with YaRN and RoPE (docs/dype-effect.md sections 2-3).
//
// Aggregates over units: objects_right = sum right / sum described objects; kind_right = sum kind right / sum found
// (shape among found objects); anchored = sum anchored / sum described objects (only above 1x: at 1x the training
// positions are the right ones); all_right, count_right, background_right, layout, duplicates, hf_dev, |hf_dev|
// (mean of per-unit magnitudes) and mf_dev are unit means; swd_x100 = 100 x SWD(set, R_ind). The "real" row is
// R_same through the same metrics; its swd_x100 is the floor SWD(R_same, R_ind).
#pragma once
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bootstrap_replicates.hpp"
#include "experiment.hpp"
#include "real_sets.hpp"
#include "render_record.hpp"

namespace genplug::dype_effect {

struct Metric {
  std::string key;      // results.json's
  std::string heading;  // results.md's
  bool binary = false;  // per-unit (or per-object) right/wrong: discordant counts are reported
};
const std::vector<Metric>& metrics();

// Baselines of the comparisons, in report order.
const std::vector<std::string>& baselines();  // "yarn", "rope"

struct Cell {
  std::string config;
  std::string rendered_as;  // the config whose renders these are (itself unless its spectra equal another's)
  std::map<std::string, Replicates> values;  // by metric key; full = the aggregate (NaN when undefined)
};

struct ComparisonEntry {
  Comparison interval;
  std::optional<std::pair<int, int>> discordant;  // (config right & baseline wrong, baseline right & config wrong)
};

struct SizeSummary {
  Size size;
  int units = 0;
  int resamples = 0;
  Cell real;
  std::vector<Cell> configs;  // row order
  double swd_floor_x100 = 0;
  // baseline -> config -> metric -> entry (configs other than the baseline, both rendered at this size)
  std::map<std::string, std::map<std::string, std::map<std::string, ComparisonEntry>>> versus;
};

// `records` holds every config's renders at this size by config name (aliased configs hold copies), one per unit
// in unit order; `configs` gives the row order.
SizeSummary summarise_size(const Size& size, const std::vector<std::string>& configs,
                           const std::map<std::string, std::vector<RenderRecord>>& records,
                           const std::map<std::string, std::string>& alias_of, const RealSets& real,
                           const Resampling& resampling);

}  // namespace genplug::dype_effect
