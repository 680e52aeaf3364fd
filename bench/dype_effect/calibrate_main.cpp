// genplug-dype-calibrate: fits a dynamic DyPE method's schedule shape to the mini model at one target size
// (docs/dype-effect.md section 6, calibrate.hpp). The command line only.
//
//   genplug-dype-calibrate --method dy-yarn --size 2x --out calibration   # -> calibration/dy-yarn-2x.json
//   genplug-dype-effect --posenc dy-yarn-cal=calibration/dy-yarn-2x.json ...  # the result as a benchmark row
#include <cstdio>

#include <CLI/CLI.hpp>

#include "calibrate.hpp"

int main(int argc, char** argv) try {
  using namespace genplug::dype_effect;
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
  app.add_option("--steps", o.steps, "sampling steps (default: the model's)")->check(CLI::PositiveNumber);
  app.add_option("--out", o.out, "output folder")->capture_default_str();
  app.add_option("--model", o.model, "org.genplug.flux config (JSON)")->capture_default_str();
  app.add_option("--plugin-path", o.plugin_path, "more plugin folders");
  CLI11_PARSE(app, argc, argv);
  run_calibration(o);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "genplug-dype-calibrate: %s\n", e.what());
  return 1;
}
