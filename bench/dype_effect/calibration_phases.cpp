#include "calibration_phases.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "bootstrap_replicates.hpp"
#include "experiment.hpp"
#include "plugin_facts.hpp"
#include "progress.hpp"
#include "real_sets.hpp"
#include "render_cells.hpp"
#include "render_record.hpp"
#include "scratch_dir.hpp"
#include "settle.hpp"

namespace genplug::dype_effect {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using Records = std::map<std::string, std::vector<RenderRecord>>;  // by config, one per unit in unit order

// The static methods beside the switch configs: the best one's objects_right is the sweep's floor.
const std::vector<std::string> kStaticMethods = {"pi", "ntk", "yarn"};

Experiment one_size_experiment(const CalibrationOptions& o, const Size& size, std::vector<Config> configs) {
  Experiment e;
  e.set = "calibration";
  e.sizes = {size};
  e.configs = std::move(configs);
  e.units = make_units(o.units, calibration_scene_seed_base, calibration_noise_seed_base);
  e.steps = o.steps;
  return e;
}

// ---- Rendering and scoring ----

// A phase's progress on stderr: renders done, elapsed, ETA; at most one line per 10 s, and the last.
class Countdown {
 public:
  Countdown(std::string phase, std::size_t total) : phase_(std::move(phase)), total_(total) {}
  void tick() {
    ++done_;
    if (done_ < total_ && seconds_since(last_) < 10) return;
    last_ = Clock::now();
    const double elapsed = seconds_since(start_);
    const double eta = elapsed / double(done_) * double(total_ - done_);
    std::fprintf(stderr, "genplug-dype-calibrate: %s %zu/%zu renders, %s elapsed, ETA %s\n", phase_.c_str(), done_,
                 total_, clock_text(elapsed).c_str(), clock_text(eta).c_str());
  }

 private:
  std::string phase_;
  std::size_t total_, done_ = 0;
  Clock::time_point start_ = Clock::now(), last_ = Clock::now();
};

// Renders every config of `e` on every unit at its one size and scores each picture against the exact render of
// the unit's scene. A config whose spectra equal an earlier one's at every sigma is rendered once, as that one.
Records render_and_score(const Experiment& e, const PluginFacts& facts, const CalibrationOptions& o,
                         const json& model_config, const std::string& phase) {
  const Size& size = e.sizes.front();
  const SizeFacts& sf = facts.sizes.at(size.label);
  const ScratchDir scratch(o.out, ".calibrate-tmp-");
  CellRenderer renderer(e, facts, model_config, scratch.path(), o.plugin_path);
  const mini::SlicedDirections directions = directions_for(size);
  std::vector<mini::RadialSpectrum> reference;
  for (const Unit& u : e.units) reference.push_back(exact_spectrum(size, u));
  Countdown countdown(phase, renderer.job_count());
  Records records;
  for (const Config& c : e.configs) {
    if (sf.alias_of.count(c.name)) continue;
    for (const Unit& u : e.units) {
      const mini::Image picture = renderer.render(size, c.name, u);
      records[c.name].push_back(score_picture(picture, u, reference.at(std::size_t(u.index)), directions));
      countdown.tick();
    }
  }
  for (const auto& [alias, target] : sf.alias_of) records[alias] = records.at(target);
  return records;
}

// ---- Statistics of a config's records ----

// Mean layout with its bootstrap 95 % interval (type-7 quantiles of the resampled means).
Estimate layout_estimate(const std::vector<RenderRecord>& records, const Resampling& resampling) {
  std::vector<double> values;
  for (const RenderRecord& r : records) values.push_back(r.layout);
  const Replicates rep = replicate(mini::mean_over_units(values), resampling);
  const double tail = (1 - mini::bootstrap_confidence) / 2;
  return {rep.full, mini::quantile_type7(rep.resampled, tail), mini::quantile_type7(rep.resampled, 1 - tail)};
}

ShapeScores shape_scores(const Shape& shape, const std::vector<RenderRecord>& records) {
  long right = 0, objects = 0;
  double layout = 0, abs_hf = 0;
  for (const RenderRecord& r : records) {
    right += r.tally.right, objects += r.tally.objects;
    layout += r.layout / double(records.size()), abs_hf += std::abs(r.hf_dev) / double(records.size());
  }
  return {shape, objects ? double(right) / double(objects) : 0.0, layout, abs_hf};
}

std::string switch_name(const SwitchPoint& p) { return "switch-k" + std::to_string(p.k); }

}  // namespace

// ---- Phase 1: when the model settles layout ----

SettlePhase run_settle_phase(const CalibrationOptions& o, const Size& size, const json& model_config) {
  SettlePhase p;
  const Config official{"official", posenc_of_method(o.method), {}};
  const PluginFacts first = read_plugin_facts(one_size_experiment(o, size, {official}), model_config,
                                              benchmark_scheduler_config(), o.plugin_path);
  p.sigmas = first.sizes.at(size.label).sigmas, p.mu = first.mu, p.steps = first.steps;
  p.points = switch_points(p.sigmas, o.stride);
  std::vector<Config> configs;
  for (const std::string& m : kStaticMethods) configs.push_back({m, posenc_of_method(m), {}});
  configs.push_back(official);
  for (const SwitchPoint& point : p.points)
    configs.push_back({switch_name(point), switch_posenc(o.method, point), {}});
  const Experiment e = one_size_experiment(o, size, configs);
  const PluginFacts facts = read_plugin_facts(e, model_config, benchmark_scheduler_config(), o.plugin_path);
  const Records records = render_and_score(e, facts, o, model_config, "settling");

  const Resampling resampling = make_resampling(o.units);
  for (const SwitchPoint& point : p.points) {
    const auto& r = records.at(switch_name(point));
    p.layout.push_back(layout_estimate(r, resampling));
    p.objects_right.push_back(shape_scores({}, r).objects_right);
  }
  for (const std::string& m : kStaticMethods) {
    p.statics[m] = shape_scores({}, records.at(m));
    p.best_static_objects_right = std::max(p.best_static_objects_right, p.statics[m].objects_right);
  }
  p.official = shape_scores(official_shape, records.at("official"));
  p.settling = find_settling(p.points, p.layout);
  return p;
}

// ---- Phase 2: the sweep of shapes around the settled sigma ----

// Scores of every swept shape, the official one (rendered in phase 1, on the same units) first.
std::vector<ShapeScores> run_sweep_phase(const CalibrationOptions& o, const Size& size, const json& model_config,
                                         const SettlePhase& settle, const Settling& around) {
  const std::vector<Shape> shapes = sweep_shapes(around);
  std::vector<Config> configs;
  for (std::size_t i = 1; i < shapes.size(); ++i)
    configs.push_back({"shape-" + std::to_string(i), shape_posenc(o.method, shapes[i]), {}});
  const Experiment e = one_size_experiment(o, size, configs);
  const PluginFacts facts = read_plugin_facts(e, model_config, benchmark_scheduler_config(), o.plugin_path);
  const Records records = render_and_score(e, facts, o, model_config, "sweep");
  std::vector<ShapeScores> scores = {settle.official};
  for (std::size_t i = 1; i < shapes.size(); ++i)
    scores.push_back(shape_scores(shapes[i], records.at("shape-" + std::to_string(i))));
  return scores;
}

}  // namespace genplug::dype_effect
