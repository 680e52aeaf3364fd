// genplug run — runs a manifest's jobs and writes their EXRs. Ctrl-C stops at the next model evaluation,
// writes nothing partial and exits 130.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <unistd.h>

#include <genplug/host/manifest.hpp>
#include <genplug/host/pipeline.hpp>

#include "command.hpp"
#include "progress_display.hpp"

namespace genplug::cli {
namespace {

std::atomic<bool> g_cancel{false};

extern "C" void on_signal(int) {
  if (g_cancel.exchange(true)) std::_Exit(130);  // a second Ctrl-C does not wait
}

struct Options {
  std::string manifest;
  std::vector<std::string> overrides;
  bool force = false;
};

void run(const Options& o, const Globals& g) {
  host::Manifest manifest = host::Manifest::load(o.manifest, o.overrides);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  ProgressDisplay display(g.quiet, ::isatty(STDERR_FILENO) != 0);
  host::PipelineOptions po;
  po.overwrite = o.force;
  po.cancel = &g_cancel;
  po.extra_plugin_path.assign(g.plugin_path.begin(), g.plugin_path.end());
  po.progress = [&display](const host::Progress& p) { display.update(p); };
  po.log = [&display](int32_t severity, const std::string& m) { display.log(severity, m); };
  host::Pipeline pipeline(std::move(manifest), std::move(po));
  for (const host::Job& job : pipeline.manifest().jobs) {
    host::JobResult r = pipeline.run(job);
    display.job_done(job, r);
  }
}

void setup(CLI::App& cmd, Globals& g) {
  static Options o;
  cmd.add_option("manifest", o.manifest, "Manifest JSON file (docs/manifest.md)")->required()->type_name("MANIFEST");
  cmd.add_option("--set", o.overrides, "Override a manifest value, e.g. --set jobs.0.seed=7 (repeatable)")
      ->type_name("PATH=VALUE");
  cmd.add_flag("-f,--force", o.force, "Replace existing output files");
  cmd.footer(
      "Exit codes: 0 ok; 2 bad command line; 3 invalid manifest or override (file and JSON path named);\n"
      "4 plugin not found, rejected or failed to create; 5 a plugin failed while running a job;\n"
      "6 output cannot be written (exists, folder missing or read-only); 130 cancelled (Ctrl-C).\n"
      "Outputs are written to a temporary file and renamed when complete: a failed or cancelled job leaves\n"
      "no file (jobs finished before it keep theirs).");
  cmd.callback([&g] { run(o, g); });
}

RegisterCommand reg("run", "Run the jobs of a manifest and write OpenEXR images", setup);

}  // namespace
}  // namespace genplug::cli
