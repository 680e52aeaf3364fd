// genplug validate LIB — checks a plugin library against the genplug contract: the first tool a third-party
// plugin author runs. Each check prints PASS/FAIL with the reason; the exit code is 4 when any check fails.
//
// Every probe runs in a child process (validate.hpp, validate_isolation.cpp), as clap-validator does: a plugin
// that crashes, calls exit, hangs (--timeout) or floods memory (--memory-limit) fails the check it was in and
// the validator goes on. The probes themselves are in validate_probes.cpp.
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <optional>

#include <genplug/host/cancel_signals.hpp>
#include <genplug/host/printable.hpp>

#include "cli_options.hpp"
#include "message_text.hpp"
#include "command.hpp"
#include "standard_output.hpp"
#include "validate.hpp"

namespace genplug::cli::validate_command {
namespace {

namespace v = validate;
using host::counted;

struct Options {
  std::string library;
  bool create_models = false;
  double timeout_seconds = 20;
  std::string memory_limit = "4G";
  // The hidden probe mode, run by the validator in its child processes.
  std::string probe;
  std::string plugin;
  int plugin_index = -1;
  int factory_case = 0;
  int report_fd = -1;
  std::string report_token;
};

std::string checks_failed(const std::string& library, int failures) {
  return library + ": " + counted(size_t(failures), "contract check") + " failed";
}

// Counts failures; flushed line by line, so what was checked so far is never lost.
struct Report {
  int failures = 0;
  void print(const v::Record& r) {
    if (r.type == "FAIL") ++failures;
    product() << r.type << " " << host::printable(r.text) << std::endl;  // plugin messages and ids, made safe
  }
  void fail(const std::string& what) { print({"FAIL", what, ""}); }
};

// The plugins the library holds, from the load probe.
struct Found {
  std::string kind, id;  // id as the records name it (cut past 256 bytes)
  int index;             // what the probes are given: an id on their argv could read as an option, or be cut
};

class Validator {
 public:
  Validator(const Options& o, v::Limits limits) : o_(o), limits_(limits) {}

  void run() {
    std::vector<Found> plugins;
    const bool loaded = probe({"--probe", "load"}, "load", [&](const v::Record& r) {
      if (r.type == "PLUGIN") plugins.push_back({r.kind, r.text, int(plugins.size())});
    });
    if (plugins.empty() && (!loaded || rep_.failures)) {
      product() << "1 library, 0 plugins, " << counted(size_t(rep_.failures), "failure") << "\n";
      throw host::HostError(host::ErrorKind::plugin, o_.library + ": does not satisfy the genplug contract");
    }
    for (const Found& p : plugins) probe_plugin(p);
    for (const Found& p : plugins)
      for (int c = 0; c < v::factory_case_count(); ++c) {
        std::vector<std::string> args = with_plugin("factory", p);
        args.insert(args.end(), {"--case", std::to_string(c)});
        probe(args, p.kind + " " + p.id + ": factory: " + v::factory_case_name(c));
      }
    product() << counted(plugins.size(), "plugin") << ", " << counted(size_t(rep_.failures), "failure") << "\n";
    if (rep_.failures) throw host::HostError(host::ErrorKind::plugin, checks_failed(o_.library, rep_.failures));
  }

 private:
  std::vector<std::string> with_plugin(const char* probe, const Found& p) const {
    return {"--probe", probe, "--plugin-index", std::to_string(p.index)};
  }

  // Create and use; then, for a posenc, two instances at once, but only once one was created and used alone
  // (else its failure would only be reported again). A descriptor's FAIL no longer skips it, and a skip says why.
  void probe_plugin(const Found& p) {
    const std::string who = p.kind + " " + p.id;
    bool used = false;  // its probe got through create, use and destroy ("PASS ...: destroy")
    const bool clean = probe(with_plugin("plugin", p), who + ": create and use", [&](const v::Record& r) {
      used = used || (r.type == "PASS" && r.text == who + ": destroy");
    });
    if (p.kind != "posenc") return;
    const std::string title = who + ": two instances on two threads";
    if (used && clean)
      probe(with_plugin("concurrency", p), title);
    else if (!used)
      rep_.print({"SKIP", title + ": not run, since one instance alone did not get through create, use and "
                                  "destroy (above)", ""});
    else
      rep_.print({"SKIP", title + ": not run, since the probe of one instance alone failed (above)", ""});
  }

  // Runs one probe in a child process; true when its process ended normally and nothing else wrote to its report.
  // A process that died (crash, exit, time-out, memory limit) fails the check that was running: its last STEP,
  // else `title`; one that failed after the probe (library destructors, exit handlers) fails `title`. Bytes or
  // records on the report from anything but the probe fail the check that was running when they came.
  bool probe(std::vector<std::string> args, const std::string& title,
             const std::function<void(const v::Record&)>& on_data = nullptr) {
    args.insert(args.begin(), "validate");
    if (o_.create_models) args.push_back("--create-models");
    args.insert(args.end(), {"--memory-limit", std::to_string(limits_.memory_bytes) + "B", "--", o_.library});
    const v::Outcome out = v::run_isolated(args, limits_, [&](const v::Record& r) {
      if (r.type == "PASS" || r.type == "FAIL" || r.type == "NOTE" || r.type == "SKIP") rep_.print(r);
      if (on_data) on_data(r);
    });
    if (!out.started) throw not_started(out);
    if (!out.foreign.empty())
      rep_.fail((out.foreign_step.empty() ? title : out.foreign_step) + ": " + o_.library + " " + out.foreign);
    if (!out.failure.empty())
      rep_.fail((out.ended || out.last_step.empty() ? title : out.last_step) + ": " + out.failure);
    return out.failure.empty() && out.foreign.empty();
  }

  // A probe process that ended before its first record never reached the library (it reports a step first):
  // the limits or the machine stopped genplug itself, and no check of the plugin's may fail for that.
  host::HostError not_started(const v::Outcome& out) const {
    std::string text = "the probe process " + out.failure + " before it loaded " + o_.library;
    if (out.timed_out)
      return host::HostError(host::ErrorKind::usage, text + ": genplug itself needs longer to start; raise --timeout");
    if (limits_.memory_bytes && out.memory_like)  // execve's ENOMEM included
      return host::HostError(host::ErrorKind::usage, text + ": genplug itself does not start under --memory-limit " +
                                                         v::bytes_text(limits_.memory_bytes) + "; raise it");
    if (!out.exec_error.empty())  // e.g. E2BIG: an environment too large to pass on; no limit of ours is at fault
      return host::HostError(host::ErrorKind::runtime, "the probe process could not be started: " + out.exec_error);
    return host::HostError(host::ErrorKind::runtime, text);
  }

  const Options& o_;
  v::Limits limits_;
  Report rep_;
};

// The hidden probe mode: one probe, its records on the report pipe (a child process of the validator's), or
// printed when run by hand, which then exits 4 after any FAIL (it had exited 0).
void run_probe_mode(const Options& o, const v::Limits& limits) {
  v::ProbeWriter out(o.report_fd, o.report_token, o.library);
  v::run_probe({o.probe, o.library, o.plugin, o.plugin_index, o.factory_case, o.create_models, limits.memory_bytes},
               out);
  if (out.report_lost()) std::_Exit(v::kReportLostStatus);  // the parent names the cause, not an exit
  if (o.report_fd < 0 && out.failures())
    throw host::HostError(host::ErrorKind::plugin, checks_failed(o.library, out.failures()));
}

void validate_command(const Options& o) {
  v::Limits limits;
  limits.timeout_seconds = o.timeout_seconds;
  try {
    limits.memory_bytes = v::parse_bytes(o.memory_limit);
  } catch (const std::invalid_argument& e) {
    throw host::HostError(host::ErrorKind::usage, std::string("--memory-limit: ") + e.what());
  }
  if (!o.probe.empty()) return run_probe_mode(o, limits);
  host::install_exit_signals();  // Ctrl-C: a line and 130; the probe processes die with it (PR_SET_PDEATHSIG)
  Validator(o, limits).run();
}

void setup(CLI::App& cmd, Globals&) {
  static Options o;
  cmd.add_option("library", o.library, "Plugin library (.so) to check")
      ->required()
      ->type_name("FILE")
      ->check(plugin_file_check());
  cmd.add_flag("--create-models", o.create_models, "Also create model plugins with their default config (may be slow)");
  cmd.add_option("--timeout", o.timeout_seconds, "Seconds each probe may take before it is killed (0: no limit)")
      ->capture_default_str()
      ->type_name("SECONDS")
      ->check(number_in(0.0, HUGE_VAL, "a number of seconds >= 0"));  // CLI::NonNegativeNumber prints DBL_MAX
  cmd.add_option("--memory-limit", o.memory_limit,
                 "Address space of each probe process (4G, 512M, ...; 0 or off: no limit; raise it for models that load "
                 "weights or initialise a GPU)")
      ->capture_default_str()
      ->type_name("SIZE");
  // The probe mode the validator runs in its child processes (validate.hpp); hidden from --help.
  cmd.add_option("--probe", o.probe)->group("");
  cmd.add_option("--plugin", o.plugin)->group("");
  cmd.add_option("--plugin-index", o.plugin_index)->group("");
  cmd.add_option("--case", o.factory_case)->group("");
  cmd.add_option("--report-fd", o.report_fd)->group("");
  cmd.add_option("--report-token", o.report_token)->group("");
  cmd.callback([] { validate_command(o); });
}

RegisterCommand reg("validate", "Check a plugin library against the genplug contract", setup);

}  // namespace
}  // namespace genplug::cli::validate_command
