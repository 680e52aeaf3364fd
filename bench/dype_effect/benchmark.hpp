// The benchmark run (docs/dype-effect.md sections 1-4): read the plugins' facts (pinned mu, sigmas, spectra),
// probe one unit per size and estimate the run's time, then render and score every cell, build the exact-render
// sets, summarise with paired bootstrap intervals, and write run.json, results.json, results.md, spectra.json,
// cells/<size>/<config>/scores.jsonl and grids/<size>.{png,md} into the output folder.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "experiment.hpp"

namespace genplug::dype_effect {

struct Options {
  ExperimentChoice choice;
  std::filesystem::path out = "dype-effect";
  std::optional<double> budget_minutes;  // absent: 30 for the reduced set, none for the full set; 0: none
  bool force = false;                    // run even when the probe's estimate exceeds the budget
  bool probe_only = false;               // stop after the probe (run.json holds its figures)
  std::string model = R"({"preset": "mini"})";
  std::vector<std::filesystem::path> plugin_path;
  std::optional<int> render_threads;     // absent: one per core, at most 2 (render_threads.hpp)
  std::vector<std::string> arguments;    // the command line, for run.json
};

// Exit status: 0 done (or probed), 3 the estimate exceeds the budget (nothing rendered beyond the probe).
// Throws on errors.
int run_benchmark(const Options& options);

inline constexpr int exit_over_budget = 3;

}  // namespace genplug::dype_effect
