// genplug-dype-effect: DyPE's effect on the mini model, the resolution benchmark of issue #14
// (docs/dype-effect.md sections 1-4). The command line only; benchmark.cpp runs it.
//
//   genplug-dype-effect --out dype-effect                 # reduced set: 64 units x 1x, 2x, 4x1, 1x3 x 8 methods
//   genplug-dype-effect --set full --out dype-effect-full  # 512 units x 6 sizes (+ the ablation row)
//   genplug-dype-effect --probe-only                       # one unit per size: s/render and the estimate
//   genplug-dype-effect --posenc dy-yarn-cal=calibration/dy-yarn-2x.json --sizes 2x   # a calibrated row too
#include <cstdio>

#include <CLI/CLI.hpp>

#include "benchmark.hpp"
#include "command_line.hpp"
#include "render_cells.hpp"  // cancel_requested

namespace {

using namespace genplug::dype_effect;

int run(int argc, char** argv) {
  Options o;
  for (int i = 0; i < argc; ++i) o.arguments.emplace_back(argv[i]);
  CLI::App app{"DyPE's effect on the mini model: renders grammar prompts at several sizes with every position "
               "encoding through genplug's pipeline and scores them against exact renders (docs/dype-effect.md)"};
  int units = 0;
  std::optional<uint32_t> steps;
  app.add_option("--set", o.choice.set, "reduced (64 units, 1x 2x 4x1 1x3) or full (512 units, 1x-4x 4x1 1x3 and "
                                        "the ablation row)")
      ->check(CLI::IsMember({"reduced", "full"}))
      ->capture_default_str();
  app.add_option("--units", units, "units (default: 64 reduced, 512 full)")->check(genplug::mini::kAtLeastOne);
  app.add_option("--sizes", o.choice.sizes, "sizes, comma-separated, of 1x 2x 3x 4x 4x1 1x3 (default: the set's)")
      ->delimiter(',');
  app.add_option("--methods", o.choice.methods,
                 "methods, comma-separated, of rope pi ntk yarn dy-pi dy-ntk dy-yarn dy-yarn-legacy (default: all)")
      ->delimiter(',');
  std::vector<std::string> posenc_files;
  app.add_option("--posenc", posenc_files,
                 "one more row: NAME=FILE, FILE a manifest posenc ref such as genplug-dype-calibrate's output "
                 "(repeatable)");
  app.add_option("--steps", steps, "sampling steps (default: the model's)")->check(genplug::mini::kAtLeastOne);
  app.add_option("--out", o.out, "output folder")->capture_default_str();
  app.add_option("--budget-min", o.budget_minutes,
                 "stop after the probe when its estimate exceeds this many minutes (default: 30 for the reduced set, "
                 "none for the full set; 0: none)")
      ->check(genplug::mini::kNonNegativeFinite);
  app.add_flag("--force", o.force, "run even when the estimate exceeds --budget-min");
  app.add_flag("--probe-only", o.probe_only, "stop after the probe (its figures are in run.json)");
  app.add_option("--model", o.model, "org.genplug.flux config (JSON)")->capture_default_str();
  app.add_option("--plugin-path", o.plugin_path, "more plugin folders");
  app.add_option("--render-threads", o.render_threads,
                 "cells rendered at once, each on a pipeline of its own with one compute thread (default: one per "
                 "core, at most 2)")
      ->check(CLI::Range(1, 64));
  if (const int rc = genplug::mini::parse_or_exit(app, argc, argv); rc >= 0) return rc;
  json_object_flag("--model", o.model);  // checked here, before anything is read or written
  if (units > 0) o.choice.units = units;
  for (const std::string& spec : posenc_files) o.choice.extra_configs.push_back(config_from_file(spec));
  o.choice.steps = steps;
  // From here SIGINT and SIGTERM stop the renders (a second one exits at once), so the scratch folder goes too.
  genplug::host::install_cancel_signals(cancel_requested(), std::chrono::seconds(0));  // it cleans up
  return run_benchmark(o);
}

}  // namespace

// Exit status: 0 done, 1 an error, 2 a bad flag, 3 over the budget (benchmark.hpp), 130/143 SIGINT/SIGTERM.
int main(int argc, char** argv) {
  const int status = genplug::mini::guarded_main("genplug-dype-effect", [&] { return run(argc, argv); });
  return status == 1 ? status_after_signals(status) : status;
}
