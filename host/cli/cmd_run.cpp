// genplug run — runs a manifest's work items (batch jobs expanded), or one shard of them, and writes their
// EXRs. Outputs already rendered from the same work item are skipped (resume). SIGINT or SIGTERM stop at the
// next model evaluation, write nothing partial and exit 130 or 143.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <unistd.h>

#include <genplug/host/cancel_signals.hpp>
#include <genplug/host/exr_writer.hpp>
#include <genplug/host/manifest.hpp>
#include <genplug/host/pipeline.hpp>
#include <genplug/host/printable.hpp>
#include <genplug/host/shard.hpp>

#include "cli_options.hpp"
#include "command.hpp"
#include "mapped_file_fault.hpp"
#include "standard_output.hpp"
#include <genplug/host/memory_budget.hpp>
#include "progress_display.hpp"
#include "progress_jsonl.hpp"

namespace genplug::cli::run_command {
namespace {

std::atomic<bool> g_cancel{false};

struct Options {
  std::string manifest;
  std::vector<std::string> overrides;
  bool force = false;
  bool list = false;
  std::optional<std::string> shard;
  std::string progress = "text";
  std::optional<std::string> memory_limit;
  bool preview = false;
  uint32_t preview_every = 0;
  uint32_t preview_size = 1024;
  bool preview_size_given = false;  // --preview-size implies --preview, as --preview-every does
};

// The shard to render: --shard, else the Slurm array task's, else everything. `from` says which, for the notice.
host::Shard chosen_shard(const Options& o, std::string& from) {
  from = "--shard";
  if (o.shard) return host::parse_shard(*o.shard);  // also when given empty ("--shard $UNSET"): an error
  from = "SLURM_ARRAY_TASK_ID";
  if (auto slurm = host::shard_from_slurm([](const char* name) { return std::getenv(name); })) return *slurm;
  from.clear();
  return {};
}

std::string shard_text(host::Shard s) { return std::to_string(s.index) + "/" + std::to_string(s.count); }

// After a signal, any failure is the cancellation: a read the signal interrupted (EINTR from a FIFO) fails with
// its own message. Reported with the signal's exit code (130 SIGINT, 143 SIGTERM).
host::HostError with_signal_code(const host::HostError& e) {
  const int signal = host::cancel_signal();
  if (signal == 0) return e;
  host::disarm_cancel_grace();  // back from the plugin: the run ends on its own, its error line and event said
  if (host::cancel_signal_from_self())  // no one cancelled: a library gave up (a retry would fail alike)
    return host::HostError(host::ErrorKind::plugin, host::library_signal_text() + ": " + e.what());
  const std::string what = e.kind() == host::ErrorKind::cancelled ? e.what() : std::string("cancelled: ") + e.what();
  return host::HostError(signal == SIGTERM ? host::ErrorKind::terminated : host::ErrorKind::cancelled, what);
}

// --list: the work items, one JSON object a line, without loading anything. A signal stops it (exit 130/143);
// a reader that has gone away (`| head`: SIGPIPE is ignored) ends it quietly.
void list_items(const std::vector<host::Job>& items) {
  size_t listed = 0;
  for (const host::Job& j : items) {
    nlohmann::json settings = j.raw;
    settings.erase("output");
    nlohmann::json line = {{"index", j.index}, {"job", j.job}, {"output", j.output.string()}, {"settings", settings}};
    product() << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    const bool failed = !product();  // also a write the signal interrupted (EINTR)
    if (g_cancel.load() && (failed || ++listed % 1024 == 0))
      throw with_signal_code(host::HostError(host::ErrorKind::cancelled, "cancelled while listing the work items"));
    if (failed) return;
  }
}

// --memory-limit as bytes (nullopt: not given; 0: off). 0 bytes is refused on purpose: it would refuse every job.
std::optional<uint64_t> memory_limit_option(const Options& o) {
  if (!o.memory_limit) return std::nullopt;
  if (const std::optional<uint64_t> limit = host::parse_memory_size(*o.memory_limit)) return limit;
  const std::optional<double> bytes = host::parse_byte_count(*o.memory_limit);  // why not, as the grammar reads it
  const std::string why = !bytes          ? "is not a size (e.g. 24G, 512M) or off"
                          : *bytes == 0   ? "would leave no memory for any job (off turns the check off)"
                          : *bytes < 1    ? "is less than one byte"
                                          : "is 2^64 bytes or more";
  throw host::HostError(host::ErrorKind::usage, "--memory-limit: '" + *o.memory_limit + "' " + why);
}

// What the pipeline is told: previews, overwrite, cancel flag, memory limit, plugin path, and where progress and
// plugins' messages go (JSON lines on stdout, or the display on stderr).
host::PipelineOptions pipeline_options(const Options& o, const Globals& g, std::optional<uint64_t> memory_limit,
                                       ProgressJsonl* jsonl, ProgressDisplay& display) {
  host::PipelineOptions po;
  po.preview = o.preview || o.preview_every > 0 || o.preview_size_given;
  po.preview_every = o.preview_every;
  po.preview_max_side = o.preview_size;
  po.overwrite = o.force;
  po.cancel = &g_cancel;
  po.memory_limit = memory_limit;
  po.extra_plugin_path.assign(g.plugin_path.begin(), g.plugin_path.end());
  if (jsonl) {
    po.progress = [jsonl](const host::Progress& p) { jsonl->update(p); };
    po.log = [jsonl](int32_t severity, const std::string& m) { jsonl->log(severity, m); };
  } else {
    po.progress = [&display](const host::Progress& p) { display.update(p); };
    po.log = [&display](int32_t severity, const std::string& m) { display.log(severity, m); };
  }
  return po;
}

// Renders the shard's items in order; an error is reported as the item's (JSON lines) with its exit code.
void render_items(host::Manifest manifest, host::PipelineOptions po, const host::Shard& shard, ProgressJsonl* jsonl,
                  ProgressDisplay& display) {
  const auto t0 = std::chrono::steady_clock::now();
  // The item being rendered, copied: when an error unwinds the pipeline (which owns the jobs), it is reported.
  std::optional<ProgressJsonl::Item> current;
  try {
    if (jsonl) jsonl->start(manifest.jobs.size(), shard_text(shard));
    host::Pipeline pipeline(std::move(manifest), std::move(po));
    size_t rendered = 0, skipped = 0;
    const std::vector<host::Job>& jobs = pipeline.manifest().jobs;
    for (const host::Job& job : jobs) {
      current = ProgressJsonl::Item{job.index, job.output.string()};
      if (jsonl) jsonl->item_start(job);
      const host::JobResult r = pipeline.run(job);
      (r.skipped ? skipped : rendered) += 1;
      if (jsonl)
        jsonl->item_done(job, r);
      else
        display.job_done(size_t(&job - jobs.data()), jobs.size(), job, r);
    }
    if (jsonl)
      jsonl->done(rendered, skipped, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  } catch (const host::HostError& e) {
    const host::HostError reported = with_signal_code(e);
    if (jsonl) jsonl->error(current, reported.exit_code(), reported.what());
    throw reported;
  } catch (const std::bad_alloc&) {
    const host::HostError reported(host::ErrorKind::retryable, host::out_of_memory_text());
    if (jsonl) jsonl->error(current, reported.exit_code(), reported.what());
    throw reported;
  }
}

// GENPLUG_CANCEL_GRACE: whole seconds from 0 (wait however long) to 86 400; unset or empty: the default.
std::chrono::seconds cancel_grace() {
  const char* text = std::getenv("GENPLUG_CANCEL_GRACE");
  if (!text || !*text) return host::kCancelGrace;
  const std::string value = text;
  if (value.size() > 9 || value.find_first_not_of("0123456789") != std::string::npos || std::stol(value) > 86400)
    throw host::HostError(host::ErrorKind::usage, "GENPLUG_CANCEL_GRACE: expected whole seconds from 0 to 86400, "
                                                  "got '" + host::printable(value) + "'");
  return std::chrono::seconds(std::stol(value));
}

void run(const Options& o, const Globals& g) {
  if (o.progress != "text" && o.progress != "jsonl" && o.progress != "none")
    throw host::HostError(host::ErrorKind::usage, "--progress: expected text, jsonl or none, got '" + o.progress + "'");
  const bool machine = o.progress == "jsonl" && !o.list;
  ProgressJsonl jsonl(g.quiet);
  // A weights file cut short while it is mapped: a message and exit 75, not "Bus error" (mapped_file_fault.hpp).
  install_mapped_file_fault_handler();
  host::Manifest manifest;
  host::Shard shard;
  std::string shard_from;
  std::optional<uint64_t> memory_limit;
  try {
    host::install_cancel_signals(g_cancel, cancel_grace());  // first: a bad grace is reported as any usage error
    if (machine)  // the grace's end is a monitor's last event too
      host::set_cancel_grace_lines(ProgressJsonl::error_line(130, host::cancel_grace_text()),
                                   ProgressJsonl::error_line(143, host::cancel_grace_text()),
                                   ProgressJsonl::error_line(4, host::library_signal_text()));
    // As `inspect ""`: an empty argument (an unset variable) is the command line's fault, not a manifest's.
    if (o.manifest.empty()) throw host::HostError(host::ErrorKind::usage, "MANIFEST: an empty path names no file");
    memory_limit = memory_limit_option(o);
    manifest = host::Manifest::load(o.manifest, o.overrides, &g_cancel);
    shard = chosen_shard(o, shard_from);
  } catch (const host::HostError& e) {
    const host::HostError reported = with_signal_code(e);
    if (machine) jsonl.error(std::nullopt, reported.exit_code(), reported.what());  // a monitor sees why nothing started
    throw reported;
  }
  const size_t items = manifest.jobs.size();
  manifest.jobs = host::select_shard(std::move(manifest.jobs), shard);
  if (o.list) return list_items(manifest.jobs);

  const bool quiet = g.quiet || o.progress == "none";
  // A shard says so: one from the environment (a Slurm array task) renders a part of the manifest unasked.
  if (!quiet && !machine && shard.count > 1 && !manifest.jobs.empty())
    std::cerr << "genplug: shard " << shard_text(shard) << " (from " << shard_from << "): " << manifest.jobs.size()
              << " of the manifest's " << items << " work items\n";
  ProgressDisplay display(quiet || o.progress == "jsonl", ::isatty(STDERR_FILENO) != 0);
  if (manifest.jobs.empty()) {
    if (machine) jsonl.start(0, shard_text(shard)), jsonl.done(0, 0, 0);
    if (!quiet) std::cerr << "genplug: shard " << shard_text(shard) << " has no work items\n";
    return;
  }
  ProgressJsonl* lines = machine ? &jsonl : nullptr;
  host::PipelineOptions po = pipeline_options(o, g, memory_limit, lines, display);
  render_items(std::move(manifest), std::move(po), shard, lines, display);
}

void setup(CLI::App& cmd, Globals& g) {
  static Options o;
  cmd.add_option("manifest", o.manifest, "Manifest JSON file (docs/manifest.md)")->required()->type_name("MANIFEST");
  cmd.add_option("--set", o.overrides, "Override a manifest value, e.g. --set jobs.0.seed=7 (repeatable)")
      ->type_name("PATH=VALUE");
  cmd.add_flag("-f,--force", o.force, "Replace existing output files, also those already up to date");
  cmd.add_option("--memory-limit", o.memory_limit,
                 "Working memory a job may need (the model's estimate, checked before any job runs): a size "
                 "(24G, 512M) or off; default: what the CPU has available (MemAvailable, cgroup limit)")
      ->type_name("SIZE|off");
  cmd.add_flag("--preview", o.preview,
               "Write an sRGB PNG preview beside each output (NAME.png for NAME.exr), replaced as it is written");
  cmd.add_option("--preview-every", o.preview_every,
                 "Also update the preview with the model's current prediction of the image after every N-th model "
                 "evaluation (implies --preview)")
      ->type_name("N")
      ->transform(decimal_integer(1, 100000));
  cmd.add_option_function<uint32_t>(
         "--preview-size",
         [](const uint32_t& side) {
           o.preview_size = side;
           o.preview_size_given = true;
         },
         "Longest side of the previews in pixels (implies --preview; default 1024)")
      ->type_name("PIXELS")
      ->transform(decimal_integer(16, 65536));
  cmd.add_flag("--list", o.list, "Print the work items (one JSON object a line: index, job, output, settings) "
                                 "of the manifest or shard, and stop; loads no plugin");
  cmd.add_option("--shard", o.shard,
                 "Render only work items i with i mod N == I (default inside a Slurm array task: the task's "
                 "position in the array and the array's size)")
      ->type_name("I/N");
  cmd.add_option("--progress", o.progress, "Progress on stderr as text, as JSON lines on stdout, or none")
      ->type_name("text|jsonl|none")
      ->capture_default_str();
  cmd.footer(
      "Exit codes: 0 ok; 2 bad command line; 3 invalid manifest or override (file and JSON path named);\n"
      "4 plugin not found, rejected or failed to create; 5 a plugin failed while running a job;\n"
      "6 output cannot be written (exists from other settings, folder missing or read-only);\n"
      "75 retryable (out of memory, disk full, I/O error); 130 cancelled (SIGINT); 143 terminated (SIGTERM).\n"
      "2-6 are permanent: running again fails again. Outputs are written to a temporary file and renamed\n"
      "when complete: a failed or cancelled job leaves no file (jobs finished before it keep theirs), and a\n"
      "rerun skips outputs already rendered from the same work item. A first SIGINT/SIGTERM stops at the\n"
      "plugin's next check, or 8 s later without waiting (GENPLUG_CANCEL_GRACE=S; 0: wait); a second at once.");
  cmd.callback([&g] { run(o, g); });
}

RegisterCommand reg("run", "Run the jobs of a manifest and write OpenEXR images", setup);

}  // namespace
}  // namespace genplug::cli::run_command
