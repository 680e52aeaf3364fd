// genplug-dype-calibrate: fits a dynamic DyPE method's schedule shape to the mini model at one target size
// (docs/dype-effect.md section 6, calibrate.hpp). The command line only.
//
//   genplug-dype-calibrate --method dy-yarn --size 2x --out calibration   # -> calibration/dy-yarn-2x.json
//   genplug-dype-effect --posenc dy-yarn-cal=calibration/dy-yarn-2x.json ...  # the result as a benchmark row
#include <cstdio>

#include <CLI/CLI.hpp>

#include "calibrate.hpp"
#include "command_line.hpp"
#include "render_cells.hpp"  // cancel_requested

namespace {

using namespace genplug::dype_effect;

int run(int argc, char** argv) {
  CalibrationOptions o;
  for (int i = 0; i < argc; ++i) o.arguments.emplace_back(argv[i]);
  CLI::App app{"Calibrates the schedule of a dynamic DyPE method for the mini model at one target size: measures "
               "when the model settles layout, sweeps schedule shapes around that point and writes the chosen "
               "posenc config (docs/dype-effect.md section 6)"};
  app.add_option("--method", o.method, "dy-pi, dy-ntk, dy-yarn or dy-yarn-legacy")->capture_default_str();
  app.add_option("--size", o.size, "target size: 2x, 3x, 4x, 4x1 or 1x3")->capture_default_str();
  app.add_option("--units", o.units, "calibration units (scene and noise seed pairs)")->capture_default_str();
  app.add_option("--stride", o.stride, "switch points every this many evaluations")->capture_default_str();
  app.add_option("--settle-sigma", o.settle_sigma,
                 "sweep around this sigma instead of the measured settling point (the curve is still measured)");
  app.add_option("--steps", o.steps, "sampling steps (default: the model's)")->check(genplug::mini::kAtLeastOne);
  app.add_option("--out", o.out, "output folder")->capture_default_str();
  app.add_option("--model", o.model, "org.genplug.flux config (JSON)")->capture_default_str();
  app.add_option("--plugin-path", o.plugin_path, "more plugin folders");
  if (const int rc = genplug::mini::parse_or_exit(app, argc, argv); rc >= 0) return rc;
  json_object_flag("--model", o.model);  // checked here, before anything is read or written
  // From here SIGINT and SIGTERM stop the renders (a second one exits at once), so the scratch folder goes too.
  genplug::host::install_cancel_signals(cancel_requested(), std::chrono::seconds(0));  // it cleans up
  run_calibration(o);
  return 0;
}

}  // namespace

// Exit status: 0 done, 1 an error (bad --method, --size, --units, --stride, --settle-sigma included), 2 a bad flag
// found while parsing (or --model), 130/143 SIGINT/SIGTERM.
int main(int argc, char** argv) {
  const int status = genplug::mini::guarded_main("genplug-dype-calibrate", [&] { return run(argc, argv); });
  return status == 1 ? status_after_signals(status) : status;
}
