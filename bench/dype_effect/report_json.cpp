#include <cmath>

#include "report.hpp"

namespace genplug::dype_effect {
namespace {

using nlohmann::json;

json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
json number_or_null(const std::optional<double>& v) { return v ? number_or_null(*v) : json(nullptr); }

json cell_json(const Cell& cell, double floor) {
  json j = {{"rendered_as", cell.rendered_as}};
  for (const Metric& m : metrics()) j[m.key] = number_or_null(cell.values.at(m.key).full);
  j["swd_floor_x100"] = number_or_null(floor);
  return j;
}

}  // namespace

json results_json(const std::vector<SizeSummary>& sizes, const json& header) {
  json out = header;
  out["metrics"] = json::array();
  for (const Metric& m : metrics()) out["metrics"].push_back({{"key", m.key}, {"binary", m.binary}});
  out["sizes"] = json::array();
  for (const SizeSummary& s : sizes) {
    json size = {{"size", s.size.label}, {"width", s.size.width}, {"height", s.size.height}, {"units", s.units},
                 {"resamples", s.resamples}, {"swd_floor_x100", number_or_null(s.swd_floor_x100)}};
    size["rows"] = json::array({"real"});
    size["configs"] = {{"real", cell_json(s.real, s.swd_floor_x100)}};
    for (const Cell& c : s.configs) {
      size["rows"].push_back(c.config);
      size["configs"][c.config] = cell_json(c, s.swd_floor_x100);
    }
    for (const std::string& baseline : baselines()) {
      json versus = json::object();
      const auto it = s.versus.find(baseline);
      if (it != s.versus.end())
        for (const auto& [config, entries] : it->second) {
          json per_metric = json::object();
          for (const auto& [metric, e] : entries) {
            json m = {{"delta", number_or_null(e.interval.delta)}, {"lo", number_or_null(e.interval.lo)},
                      {"hi", number_or_null(e.interval.hi)}, {"resamples_used", e.interval.resamples_used}};
            if (e.discordant) m["discordant"] = {e.discordant->first, e.discordant->second};
            per_metric[metric] = m;
          }
          versus[config] = {{"n", s.units}, {"B", s.resamples}, {"metrics", per_metric}};
        }
      size["vs_" + baseline] = versus;
    }
    out["sizes"].push_back(size);
  }
  return out;
}

}  // namespace genplug::dype_effect
