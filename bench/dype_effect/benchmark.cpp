#include "benchmark.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include <genplug/internal/bounded_json.hpp>

#include "bootstrap_replicates.hpp"
#include "plugin_facts.hpp"
#include "progress.hpp"
#include "real_sets.hpp"
#include "render_cells.hpp"
#include "render_record.hpp"
#include "render_threads.hpp"
#include "report.hpp"
#include "scratch_dir.hpp"
#include "summarise.hpp"
#include "work_queue.hpp"

#ifndef GENPLUG_BUILD_TYPE
#define GENPLUG_BUILD_TYPE "unknown"
#endif

namespace genplug::dype_effect {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// ---- Where and how the run ran (run.json) ----

json load_average() {
  double l[3] = {NAN, NAN, NAN};
  if (getloadavg(l, 3) != 3) return nullptr;
  return {l[0], l[1], l[2]};
}

std::string command_output(const std::string& command) {
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buffer[256];
    while (std::fgets(buffer, sizeof buffer, p)) out += buffer;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

json git_revision() {
#ifdef GENPLUG_SOURCE_DIR
  const std::string dir = GENPLUG_SOURCE_DIR;
  const std::string rev = command_output("git -C '" + dir + "' rev-parse HEAD 2>/dev/null");
  if (rev.empty()) return nullptr;
  const bool dirty = !command_output("git -C '" + dir + "' status --porcelain --untracked-files=no 2>/dev/null").empty();
  return {{"rev", rev}, {"dirty", dirty}};
#else
  return nullptr;
#endif
}

// "model name" of /proc/cpuinfo (Linux), for run.json: float results are fixed per CPU kernel family.
json cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos)
      return line.substr(line.find(':') + 2);
  return nullptr;
}

json environment_value(const char* name) {
  const char* v = std::getenv(name);
  return v ? json(v) : json(nullptr);
}

void write_json(const fs::path& path, const json& j) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write " + path.string());
  out << j.dump(2) << '\n';
}

// run.json's opening, taken before the plugins are read: the command, the source revision and the machine.
json run_header(const Options& o, const Experiment& e, double budget) {
  return {{"program", "genplug-dype-effect"},
          {"arguments", o.arguments},
          {"git", git_revision()},
          {"set", e.set},
          {"machine",
           {{"cpu", cpu_model()},
            {"hardware_threads", std::thread::hardware_concurrency()},
            {"ATEN_CPU_CAPABILITY", environment_value("ATEN_CPU_CAPABILITY")},
            {"OMP_NUM_THREADS", environment_value("OMP_NUM_THREADS")},
            {"OPENBLAS_NUM_THREADS", environment_value("OPENBLAS_NUM_THREADS")},
            {"build_type", GENPLUG_BUILD_TYPE},
            {"load_average_start", load_average()}}},
          {"budget_minutes", budget}};
}

// ---- What is rendered where ----

// Rendered configs of a size in row order (aliases excluded).
std::vector<std::string> rendered_configs(const Experiment& e, const PluginFacts& facts, const Size& size) {
  std::vector<std::string> names;
  for (const Config& c : e.configs)
    if (renders_at(c, size) && !facts.sizes.at(size.label).alias_of.count(c.name)) names.push_back(c.name);
  return names;
}

std::vector<std::string> configs_at(const Experiment& e, const Size& size) {
  std::vector<std::string> names;
  for (const Config& c : e.configs)
    if (renders_at(c, size)) names.push_back(c.name);
  return names;
}

// Config -> the config whose renders stand for it at a size (itself unless aliased).
json rendered_as(const Experiment& e, const SizeFacts& sf, const Size& s) {
  json j = json::object();
  for (const std::string& c : configs_at(e, s)) j[c] = rendered_config(sf, c);
  return j;
}

json size_json(const Experiment& e, const PluginFacts& facts, const Size& s) {
  const SizeFacts& sf = facts.sizes.at(s.label);
  json j = to_json(s);
  j["image_tokens"] = sf.image_tokens;
  j["target_extent"] = sf.target_extent;
  j["mu"] = facts.mu;
  j["sigmas"] = sf.sigmas;
  j["rendered_as"] = rendered_as(e, sf, s);
  return j;
}

// run.json's account of what is rendered: the model, the pinned schedule, the configs, every size as the plugins
// see it, the units and the number of jobs.
void describe_setup(json& run, const Experiment& e, const PluginFacts& facts, const json& model_config,
                    std::size_t jobs) {
  run["model"] = {{"config", model_config}, {"description", facts.model_description}};
  run["rotary_layout"] = facts.rotary_layout;
  run["scheduler"] = {{"plugin", "org.genplug.flowmatch"}, {"config", facts.scheduler_config}};
  run["mu"] = facts.mu;
  run["mu_derivation"] = facts.mu_derivation;
  run["steps"] = facts.steps;
  run["configs"] = json::array();
  for (const Config& c : e.configs)
    run["configs"].push_back(
        {{"name", c.name}, {"posenc", c.posenc}, {"sizes", c.sizes.empty() ? json("all") : json(c.sizes)}});
  run["sizes"] = json::array();
  for (const Size& s : e.sizes) run["sizes"].push_back(size_json(e, facts, s));
  run["units"] = json::array();
  for (const Unit& u : e.units) run["units"].push_back(to_json(u));
  run["jobs"] = jobs;
}

// ---- An earlier run's outputs ----

// A real folder, not a link to one: the clean-up below never follows a link out of --out.
bool real_folder(const fs::path& p) { return fs::is_directory(fs::symlink_status(p)); }

// Removes `folder` when empty (a user's file in it keeps it, and is kept).
void remove_if_empty(const fs::path& folder) {
  std::error_code ec;
  if (real_folder(folder) && fs::is_empty(folder, ec)) fs::remove(folder, ec);
}

// cells/<size>/<config>/scores.jsonl of every earlier cell, and the folders that held nothing else.
void remove_cell_scores(const fs::path& cells) {
  if (!real_folder(cells)) return;
  for (const Size& s : known_sizes()) {
    const fs::path size = cells / s.label;
    if (!real_folder(size)) continue;
    for (const fs::directory_entry& config : fs::directory_iterator(size)) {
      if (!real_folder(config.path())) continue;
      fs::remove(config.path() / "scores.jsonl");
      remove_if_empty(config.path());
    }
    remove_if_empty(size);
  }
  remove_if_empty(cells);
}

// The result files an earlier run wrote into `out` (run.json is replaced next), so that the folder never holds one
// run's run.json beside another's results: a run that stops after the probe, over the budget, by an error or a
// signal leaves its run.json alone (resume is not implemented). Only the files this program writes go, by name.
void remove_earlier_results(const fs::path& out) {
  for (const char* name : {"results.json", "results.md", "spectra.json"}) fs::remove(out / name);
  remove_cell_scores(out / "cells");
  if (!real_folder(out / "grids")) return;
  for (const Size& s : known_sizes())
    for (const char* ext : {".png", ".md"}) fs::remove(out / "grids" / (s.label + ext));
  remove_if_empty(out / "grids");
}

// ---- The cells' scores ----

// Every cell's records (by size, then config, one slot per unit), the exact-render sets and the grids' pictures.
// The probe fills unit 0's slots at every size, the scoring worker the rest.
struct CellScores {
  std::map<std::string, std::map<std::string, std::vector<std::optional<RenderRecord>>>> records;
  std::map<std::string, std::map<std::string, std::vector<mini::Image>>> grid_pictures;
  std::map<std::string, mini::SlicedDirections> directions;
  std::map<std::string, RealSets> real;
};

// Empty slots for every size and rendered config. The maps are complete before any thread fills a slot.
CellScores empty_cell_scores(const Experiment& e, const PluginFacts& facts) {
  CellScores cells;
  for (const Size& s : e.sizes) {
    cells.directions[s.label] = directions_for(s);
    cells.real[s.label] = empty_real_sets(e.units.size());
    for (const std::string& c : rendered_configs(e, facts, s)) {
      cells.records[s.label][c].resize(e.units.size());
      cells.grid_pictures[s.label][c].resize(std::min<std::size_t>(grid_units, e.units.size()));
    }
  }
  return cells;
}

// Fills unit u's exact-render sets at a size; returns their seconds.
double add_real(CellScores& cells, const Size& s, const Unit& u) {
  RealSets& real = cells.real.at(s.label);
  add_real_unit(real, s, u, cells.directions.at(s.label));
  return real.seconds.at(std::size_t(u.index));
}

// Scores a render of unit u (its exact render's slot must be filled) into its cell's slot; returns the scoring's
// seconds.
double score_into(CellScores& cells, const Size& s, const std::string& c, const Unit& u, const mini::Image& picture,
                  double render_seconds) {
  RenderRecord r = score_picture(picture, u, cells.real.at(s.label).same.at(std::size_t(u.index)).raps,
                                 cells.directions.at(s.label));
  r.render_seconds = render_seconds;
  if (u.index < grid_units) cells.grid_pictures.at(s.label).at(c).at(std::size_t(u.index)) = grid_picture(picture);
  const double seconds = r.score_seconds;
  cells.records.at(s.label).at(c).at(std::size_t(u.index)) = std::move(r);
  return seconds;
}

// ---- The probe and the budget ----

// The probe's figures per size, and the run's estimate from them.
struct Probe {
  std::map<std::string, ProbeFigures> per_size;
  json per_size_json;  // run.json's probe.per_size
  double rendering = 0, scoring = 0;  // the render streams together and the worker's stream, over every size
  int render_threads = 1, cores = 1;
  // The render threads and the scoring worker run at once: the run takes about the longest stream, unless the
  // cores cannot hold them all, and up to their sum when nothing overlaps.
  double estimate() const {
    return std::max({rendering / render_threads, scoring, (rendering + scoring) / cores});
  }
  double without_overlap() const { return rendering + scoring; }
};

// Unit 0 at every size with the size's first rendered config (the run's first render twice: the first pass warms
// the model up, untimed), scored into its cell, and unit 0's exact-render sets.
Probe run_probe(const Experiment& e, const PluginFacts& facts, CellRenderer& renderer, CellScores& cells,
                int render_threads) {
  Probe probe;
  probe.render_threads = render_threads;
  probe.cores = int(std::max(1u, std::thread::hardware_concurrency()));
  probe.per_size_json = json::object();
  const Unit& first = e.units.front();
  bool warmed = false;
  for (const Size& s : e.sizes) {
    ProbeFigures& p = probe.per_size[s.label];
    p.config = rendered_configs(e, facts, s).front();
    p.units = int(e.units.size());
    p.renders = int(rendered_configs(e, facts, s).size() * e.units.size());
    p.real_unit_seconds = add_real(cells, s, first);
    if (!warmed) renderer.render(s, p.config, first), warmed = true;
    const mini::Image picture = renderer.render(s, p.config, first, &p.render_seconds);
    p.score_seconds = score_into(cells, s, p.config, first, picture, p.render_seconds);
    probe.per_size_json[s.label] = {{"config", p.config},
                                    {"render_stage_seconds", renderer.last_stage_seconds()},
                                    {"unit", 0},
                                    {"render_seconds", p.render_seconds},
                                    {"score_seconds", p.score_seconds},
                                    {"real_unit_seconds", p.real_unit_seconds},
                                    {"renders", p.renders}};
    probe.rendering += p.main_stream(), probe.scoring += p.worker_stream();
  }
  return probe;
}

// The probe's table and the estimate against the budget, on stderr.
void print_probe(const Experiment& e, const Probe& probe, double budget) {
  std::fprintf(stderr, "genplug-dype-effect: probe (unit 0 per size; load average %s)\n",
               load_average().dump().c_str());
  std::fprintf(stderr, "  %-5s %-16s %9s %9s %9s %8s %11s %11s\n", "size", "config", "s/render", "s/score",
               "s/real", "renders", "rendering", "scoring");
  for (const Size& s : e.sizes) {
    const ProbeFigures& p = probe.per_size.at(s.label);
    std::fprintf(stderr, "  %-5s %-16s %9.3f %9.3f %9.3f %8d %11s %11s\n", s.label.c_str(), p.config.c_str(),
                 p.render_seconds, p.score_seconds, p.real_unit_seconds, p.renders,
                 clock_text(p.main_stream()).c_str(), clock_text(p.worker_stream()).c_str());
  }
  std::fprintf(stderr, "genplug-dype-effect: estimate %s (rendering %s on %d threads beside scoring %s, %d cores; "
               "%s if nothing overlaps), budget %s\n", clock_text(probe.estimate()).c_str(),
               clock_text(probe.rendering).c_str(), probe.render_threads, clock_text(probe.scoring).c_str(),
               probe.cores, clock_text(probe.without_overlap()).c_str(),
               budget > 0 ? (clock_text(budget * 60) + " (--budget-min)").c_str() : "none");
}

json probe_json(const Probe& probe) {
  return {{"per_size", probe.per_size_json},
          {"rendering_seconds", probe.rendering},
          {"scoring_seconds", probe.scoring},
          {"render_threads", probe.render_threads},
          {"cores", probe.cores},
          {"estimated_seconds", probe.estimate()},
          {"estimated_seconds_without_overlap", probe.without_overlap()},
          {"load_average", load_average()},
          {"note", "per size: one render of unit 0 (the first after an untimed warm-up render), its "
                   "scoring, and one unit of the exact-render sets (R_same with its scores, R_ind), each alone; the "
                   "estimate is the longest of rendering per render thread, scoring, and both over the cores, "
                   "and leaves out the "
                   "summary (bootstrap)"}};
}

// The exit status when the run ends after the probe: 0 when only the probe was asked for, exit_over_budget when
// its estimate exceeds the budget and --force is absent; nothing when the run goes on.
std::optional<int> stop_after_probe(const Options& o, double estimate, double budget) {
  if (o.probe_only) return 0;
  if (budget > 0 && estimate > budget * 60 && !o.force) {
    std::fprintf(stderr, "genplug-dype-effect: the estimate %s exceeds --budget-min %g; stopping (--force runs it "
                         "anyway; fewer --units or --sizes shorten it)\n", clock_text(estimate).c_str(), budget);
    return exit_over_budget;
  }
  return std::nullopt;
}

// ---- Rendering and scoring every cell ----

// One cell to render: a size, a rendered config, a unit; `real_first` when the unit's exact-render sets at that
// size are made with it (the size's first config, every unit but the probe's).
struct CellJob {
  const Size* size;
  std::string config;
  const Unit* unit;
  bool real_first;
};

// Every cell in the run's order: size by size, config by config, unit by unit.
std::vector<CellJob> cell_jobs(const Experiment& e, const PluginFacts& facts) {
  std::vector<CellJob> jobs;
  for (const Size& s : e.sizes) {
    bool first_config = true;
    for (const std::string& c : rendered_configs(e, facts, s)) {
      for (const Unit& u : e.units) jobs.push_back({&s, c, &u, first_config && u.index > 0});
      first_config = false;
    }
  }
  return jobs;
}

// Renders every cell, one per render thread (each with its renderer), while a worker scores the renders and makes
// the exact-render sets. A unit's sets are queued when its first cell at a size is taken, before any of its
// renders at that size can be scored (the queue runs in order). The probe's cells are not rendered again.
void render_and_score(const Experiment& e, const PluginFacts& facts, const std::vector<CellRenderer*>& renderers,
                      CellScores& cells, ProgressTracker& tracker) {
  const std::vector<CellJob> jobs = cell_jobs(e, facts);
  WorkQueue worker(32);
  auto queue_real_sets = [&](std::size_t j) {
    const CellJob& job = jobs[j];
    if (job.real_first)
      worker.push([&cells, &tracker, &job] { tracker.real_unit(job.size->label, add_real(cells, *job.size, *job.unit)); });
  };
  auto render = [&](std::size_t j, std::size_t thread) {
    const CellJob& job = jobs[j];
    const Size& s = *job.size;
    const Unit& u = *job.unit;
    if (cells.records.at(s.label).at(job.config).at(std::size_t(u.index))) return;  // the probe's
    double render_seconds = 0;
    auto picture = std::make_shared<mini::Image>(renderers[thread]->render(s, job.config, u, &render_seconds));
    tracker.rendered(s.label, render_seconds);
    worker.push([&cells, &tracker, &job, picture, render_seconds] {
      tracker.scored(job.size->label,
                     score_into(cells, *job.size, job.config, *job.unit, *picture, render_seconds));
    });
    const bool last_unit = u.index + 1 == int(e.units.size());
    tracker.print(s.label + " " + job.config + (last_unit ? " rendered" : " " + std::to_string(u.index + 1) + "/" +
                                                                std::to_string(e.units.size())),
                  last_unit);
  };
  run_jobs_in_order(jobs.size(), renderers.size(), queue_real_sets, render);
  worker.wait();
}

// cells/<size>/<config>/scores.jsonl, one line per unit.
void write_cell_scores(const fs::path& out, const Experiment& e, const PluginFacts& facts, const CellScores& cells) {
  for (const Size& s : e.sizes)
    for (const std::string& c : rendered_configs(e, facts, s)) {
      const fs::path cell = out / "cells" / s.label / c;
      fs::create_directories(cell);
      std::ofstream lines(cell / "scores.jsonl");
      for (const auto& r : cells.records.at(s.label).at(c)) lines << to_json(*r).dump() << '\n';
    }
}

// ---- Summaries, reports and grids ----

json mean_spectrum(const std::vector<RenderRecord>& records) {
  mini::RadialSpectrum mean{};
  for (const RenderRecord& r : records)
    for (int b = 0; b < mini::radial_bin_count; ++b) mean[b] += r.raps[b] / double(records.size());
  return mean;
}

// Every config's records at a size in unit order; an aliased config gets copies of its stand-in's.
std::map<std::string, std::vector<RenderRecord>> records_by_config(const Experiment& e, const SizeFacts& sf,
                                                                   const Size& s, const CellScores& cells) {
  std::map<std::string, std::vector<RenderRecord>> by_config;
  for (const std::string& c : configs_at(e, s)) {
    auto& list = by_config[c];
    for (const auto& r : cells.records.at(s.label).at(rendered_config(sf, c))) list.push_back(*r);
  }
  return by_config;
}

// spectra.json's entry of a size: sigmas, stand-ins, DyPE's spectra, and the mean RAPS of real and every config.
json size_spectra(const Experiment& e, const SizeFacts& sf, const Size& s, const RealSets& real,
                  const std::map<std::string, std::vector<RenderRecord>>& by_config) {
  json mean_raps = {{"real", mean_spectrum(real.same)}};
  for (const auto& [c, list] : by_config) mean_raps[c] = mean_spectrum(list);
  return {{"sigmas", sf.sigmas}, {"rendered_as", rendered_as(e, sf, s)}, {"dype_spectra", sf.spectra},
          {"mean_raps", mean_raps}};
}

// A size's grid rows: the real set, then every rendered config, named with the configs it stands in for.
std::vector<GridRow> grid_rows(const Experiment& e, const PluginFacts& facts, const Size& s, const CellScores& cells) {
  std::vector<GridRow> rows = {{"real (exact render of the unit's scene)", cells.real.at(s.label).grid}};
  for (const std::string& c : rendered_configs(e, facts, s)) {
    std::string name = c;
    std::string also;
    for (const auto& [alias, target] : facts.sizes.at(s.label).alias_of)
      if (target == c) also += (also.empty() ? "" : ", ") + alias;
    if (!also.empty()) name += " (identical spectra, so also: " + also + ")";
    rows.push_back({name, cells.grid_pictures.at(s.label).at(c)});
  }
  return rows;
}

// Every size's summary (results.json, results.md) and spectra.json.
struct Summaries {
  std::vector<SizeSummary> sizes;
  json spectra;               // spectra.json
  std::size_t resamples = 0;  // B
};

// Every size's summary with its paired bootstrap comparisons and its spectra; writes its grid on the way.
Summaries summarise_and_draw(const fs::path& out, const Experiment& e, const PluginFacts& facts,
                             const CellScores& cells) {
  const Resampling resampling = make_resampling(int(e.units.size()));
  Summaries summaries;
  summaries.resamples = resampling.unit_indices.size();
  summaries.spectra = {{"mu", facts.mu}, {"steps", facts.steps}, {"sizes", json::object()}};
  for (const Size& s : e.sizes) {
    const SizeFacts& sf = facts.sizes.at(s.label);
    const RealSets& real = cells.real.at(s.label);
    const auto by_config = records_by_config(e, sf, s, cells);
    summaries.sizes.push_back(summarise_size(s, configs_at(e, s), by_config, sf.alias_of, real, resampling));
    summaries.spectra["sizes"][s.label] = size_spectra(e, sf, s, real, by_config);
    fs::create_directories(out / "grids");
    write_grid(out / "grids" / (s.label + ".png"), out / "grids" / (s.label + ".md"), s,
               grid_rows(e, facts, s, cells), e.units);
  }
  return summaries;
}

// The paragraph under results.md's title.
std::string results_intro(const Experiment& e, const PluginFacts& facts, std::size_t resamples) {
  char intro[1024];
  std::snprintf(intro, sizeof intro,
                "Generated by genplug-dype-effect (%s set): %zu units, %u steps, flowmatch mu pinned to %.6g (the "
                "128 x 128 value) at every size. Values are ratios over units (docs/dype-effect.md section 2); Δ "
                "tables give the difference to the baseline on the same units with its paired bootstrap 95 %% "
                "interval (B = %zu); binary metrics add the discordant counts (config right & baseline wrong : "
                "the reverse). No multiplicity correction. Grids: grids/<size>.png (rows named in grids/<size>.md).\n",
                e.set.c_str(), e.units.size(), facts.steps, facts.mu, resamples);
  return intro;
}

// results.json, spectra.json and results.md.
void write_reports(const fs::path& out, const Experiment& e, const PluginFacts& facts, const Summaries& summaries) {
  const json header = {{"units", e.units.size()}, {"resamples", summaries.resamples},
                       {"bootstrap_seed", mini::bootstrap_seed},
                       {"independent_resample_seed", independent_resample_seed},
                       {"confidence", mini::bootstrap_confidence}, {"steps", facts.steps}, {"mu", facts.mu},
                       {"set", e.set}};
  write_json(out / "results.json", results_json(summaries.sizes, header));
  write_json(out / "spectra.json", summaries.spectra);
  write_results_markdown(out / "results.md", summaries.sizes, results_intro(e, facts, summaries.resamples));
}

// ---- The run after the probe ----

// Renders and scores every cell, writes the scores, summaries, reports and grids, then completes run.json.
void render_and_report(const Options& o, const Experiment& e, const PluginFacts& facts,
                       const std::vector<CellRenderer*>& renderers, CellScores& cells, const Probe& probe, json& run,
                       Clock::time_point run_start) {
  ProgressTracker tracker(e.sizes, probe.per_size, int(renderers.size()));
  const auto main_start = Clock::now();
  render_and_score(e, facts, renderers, cells, tracker);
  // A signal after the last render stopped no pipeline: the run ends here, not after the summary.
  if (cancel_requested()) throw std::runtime_error("cancelled after rendering; no results written");
  const double main_seconds = seconds_since(main_start);
  tracker.print("rendered and scored", true);
  write_cell_scores(o.out, e, facts, cells);

  const auto summary_start = Clock::now();
  const Summaries summaries = summarise_and_draw(o.out, e, facts, cells);
  const double summary_seconds = seconds_since(summary_start);
  write_reports(o.out, e, facts, summaries);

  run["timings"]["per_size"] = tracker.to_json();
  run["timings"]["render_and_score_seconds"] = main_seconds;
  run["timings"]["summary_seconds"] = summary_seconds;
  run["timings"]["total_seconds"] = seconds_since(run_start);
  run["machine"]["load_average_end"] = load_average();
  write_json(o.out / "run.json", run);
  std::fprintf(stderr, "genplug-dype-effect: done in %s (estimate was %s); %s\n",
               clock_text(seconds_since(run_start)).c_str(), clock_text(probe.estimate()).c_str(),
               (o.out / "results.md").string().c_str());
}

}  // namespace

// Render threads: the option, or one per core up to 2. With more than one, each pipeline's libtorch and OpenBLAS
// get one thread (unless the environment says otherwise), set before the plugins load and read it: two
// renders on two cores, not two renders each spreading over both.
int render_thread_count(const Options& o) {
  const int threads = o.render_threads.value_or(int(std::clamp(std::thread::hardware_concurrency(), 1u, 2u)));
  if (threads > 1) {
    setenv("OMP_NUM_THREADS", "1", 0);
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
  }
  return threads;
}

int run_benchmark(const Options& o) {
  const auto run_start = Clock::now();
  const int render_threads = render_thread_count(o);
  const Experiment e = make_experiment(o.choice);
  const double budget = o.budget_minutes.value_or(e.set == "reduced" ? 30.0 : 0.0);
  const json model_config = internal::parse_bounded_json(o.model);
  json run = run_header(o, e, budget);

  std::fprintf(stderr, "genplug-dype-effect: %s set, %zu units, %zu sizes, %zu configs; reading the plugins\n",
               e.set.c_str(), e.units.size(), e.sizes.size(), e.configs.size());
  auto t = Clock::now();
  const PluginFacts facts = read_plugin_facts(e, model_config, benchmark_scheduler_config(), o.plugin_path);
  const double facts_seconds = seconds_since(t);
  // Made once the plugins have accepted the configs: a refused --model leaves no folder behind.
  const ScratchDir tmp(o.out, ".dype-effect-tmp-");  // the renders' EXRs, each deleted once its picture is back
  t = Clock::now();
  CellRenderer renderer(e, facts, model_config, tmp.path(), o.plugin_path);
  const double setup_seconds = seconds_since(t);
  describe_setup(run, e, facts, model_config, renderer.job_count());

  CellScores cells = empty_cell_scores(e, facts);
  const Probe probe = run_probe(e, facts, renderer, cells, render_threads);
  print_probe(e, probe, budget);
  run["probe"] = probe_json(probe);
  run["timings"] = {{"plugin_facts_seconds", facts_seconds}, {"pipeline_setup_seconds", setup_seconds}};
  remove_earlier_results(o.out);
  write_json(o.out / "run.json", run);
  if (const std::optional<int> status = stop_after_probe(o, probe.estimate(), budget)) return *status;
  // The other render threads' pipelines, each loading the model once more (the mini model: a few MB).
  std::vector<std::unique_ptr<CellRenderer>> more;
  std::vector<CellRenderer*> renderers{&renderer};
  for (int t = 1; t < render_threads; ++t) {
    more.push_back(std::make_unique<CellRenderer>(e, facts, model_config, tmp.path(), o.plugin_path));
    renderers.push_back(more.back().get());
  }
  render_and_report(o, e, facts, renderers, cells, probe, run, run_start);
  return 0;
}

}  // namespace genplug::dype_effect
