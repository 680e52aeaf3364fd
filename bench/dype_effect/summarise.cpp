#include "summarise.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace genplug::dype_effect {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

template <class F>
std::vector<double> per_unit(const std::vector<RenderRecord>& records, F value) {
  std::vector<double> v;
  v.reserve(records.size());
  for (const RenderRecord& r : records) v.push_back(double(value(r)));
  return v;
}

Cell make_cell(const std::string& name, const std::string& rendered_as, const std::vector<RenderRecord>& records,
               const RealSets& real, bool anchored_defined, const Resampling& resampling) {
  Cell cell{name, rendered_as, {}};
  auto mean = [&](const std::string& key, auto value) {
    cell.values[key] = replicate(mini::mean_over_units(per_unit(records, value)), resampling);
  };
  auto ratio = [&](const std::string& key, auto top, auto bottom) {
    cell.values[key] =
        replicate(mini::ratio_of_sums_over_units(per_unit(records, top), per_unit(records, bottom)), resampling);
  };
  ratio("objects_right", [](const RenderRecord& r) { return r.tally.right; },
        [](const RenderRecord& r) { return r.tally.objects; });
  mean("all_right", [](const RenderRecord& r) { return r.tally.all_right; });
  mean("count_right", [](const RenderRecord& r) { return r.tally.count_right; });
  ratio("kind_right", [](const RenderRecord& r) { return r.tally.kind; },
        [](const RenderRecord& r) { return r.tally.found; });
  mean("background_right", [](const RenderRecord& r) { return r.tally.background_right; });
  mean("layout", [](const RenderRecord& r) { return r.layout; });
  mean("duplicates", [](const RenderRecord& r) { return r.duplicates; });
  if (anchored_defined)
    ratio("anchored", [](const RenderRecord& r) { return r.anchored; },
          [](const RenderRecord& r) { return r.tally.objects; });
  else
    cell.values["anchored"] = {kNaN, std::vector<double>(resampling.unit_indices.size(), kNaN)};
  mean("hf_dev", [](const RenderRecord& r) { return r.hf_dev; });
  mean("abs_hf_dev", [](const RenderRecord& r) { return std::abs(r.hf_dev); });
  mean("mf_dev", [](const RenderRecord& r) { return r.mf_dev; });
  std::vector<std::vector<double>> projections;
  for (const RenderRecord& r : records) projections.push_back(r.projections);
  Replicates swd = replicate_swd(projections, real.independent, resampling);
  swd.full *= 100;
  for (double& v : swd.resampled) v *= 100;
  cell.values["swd_x100"] = std::move(swd);
  return cell;
}

// (a right & b wrong, b right & a wrong) per unit for a scene-level flag, per object for objects_right.
std::pair<int, int> discordant(const std::string& metric, const std::vector<RenderRecord>& a,
                               const std::vector<RenderRecord>& b) {
  std::pair<int, int> d{0, 0};
  auto count = [&](bool x, bool y) { d.first += x && !y, d.second += y && !x; };
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (metric == "objects_right") {
      for (std::size_t o = 0; o < a[i].object_right.size(); ++o) count(a[i].object_right[o], b[i].object_right[o]);
    } else if (metric == "all_right") {
      count(a[i].tally.all_right == 1, b[i].tally.all_right == 1);
    } else if (metric == "count_right") {
      count(a[i].tally.count_right == 1, b[i].tally.count_right == 1);
    } else if (metric == "background_right") {
      count(a[i].tally.background_right == 1, b[i].tally.background_right == 1);
    } else {
      throw std::logic_error("no discordant pairs for " + metric);
    }
  }
  return d;
}

}  // namespace

const std::vector<Metric>& metrics() {
  static const std::vector<Metric> list = {
      {"objects_right", "objects right", true}, {"all_right", "all right", true},
      {"count_right", "count", true},           {"kind_right", "kind", false},
      {"background_right", "background", true}, {"layout", "layout", false},
      {"duplicates", "duplicates", false},      {"anchored", "anchored", false},
      {"hf_dev", "hf_dev", false},              {"abs_hf_dev", "\\|hf_dev\\|", false},
      {"mf_dev", "mf_dev", false},              {"swd_x100", "SWD x100", false}};
  return list;
}

const std::vector<std::string>& baselines() {
  static const std::vector<std::string> list = {"yarn", "rope"};
  return list;
}

SizeSummary summarise_size(const Size& size, const std::vector<std::string>& configs,
                           const std::map<std::string, std::vector<RenderRecord>>& records,
                           const std::map<std::string, std::string>& alias_of, const RealSets& real,
                           const Resampling& resampling) {
  SizeSummary s;
  s.size = size;
  s.units = resampling.units;
  s.resamples = int(resampling.unit_indices.size());
  const bool above_training = size.width > training_side || size.height > training_side;
  s.real = make_cell("real", "exact render", real.same, real, above_training, resampling);
  s.swd_floor_x100 = s.real.values.at("swd_x100").full;
  for (const std::string& name : configs) {
    const auto alias = alias_of.find(name);
    s.configs.push_back(make_cell(name, alias == alias_of.end() ? name : alias->second, records.at(name), real,
                                  above_training, resampling));
  }
  for (const std::string& baseline : baselines()) {
    const auto base = records.find(baseline);
    if (base == records.end()) continue;
    const Cell* base_cell = nullptr;
    for (const Cell& c : s.configs)
      if (c.config == baseline) base_cell = &c;
    for (const Cell& cell : s.configs) {
      if (cell.config == baseline) continue;
      auto& entries = s.versus[baseline][cell.config];
      for (const Metric& m : metrics()) {
        ComparisonEntry e;
        e.interval = compare(cell.values.at(m.key), base_cell->values.at(m.key));
        if (m.binary) e.discordant = discordant(m.key, records.at(cell.config), base->second);
        entries[m.key] = e;
      }
    }
  }
  return s;
}

}  // namespace genplug::dype_effect
