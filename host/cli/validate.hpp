// genplug validate — the parts shared by the command (cmd_validate.cpp), the probes it runs
// (validate_probes.cpp) and the child processes they run in (validate_isolation.cpp).
//
// Every probe of a plugin library runs in a process of its own: `genplug validate` re-executes itself
// (/proc/self/exe) in a hidden mode, `validate --probe NAME [--plugin-index I | --plugin ID] [--case N] --report-fd 3
// --report-token T LIBRARY`, which loads the library, makes one probe's checks and writes them to the report pipe as
// framed JSON lines (ProbeWriter). Run by hand (no --report-fd) it prints them, and exits 4 after any FAIL. A plugin that
// crashes, calls exit, hangs or floods memory takes only that process down; the validator reports it as a
// failure of the check that was running, and goes on with the next probe.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace genplug::cli::validate {

// One record of a probe's report. Printed: PASS, FAIL, NOTE, SKIP (text). STEP: the check about to run
// (named if the process dies in it). PLUGIN: a plugin the library holds (kind, text = id). END: the probe
// finished and its process unloaded the library.
struct Record {
  std::string type;
  std::string text;
  std::string kind;
};

// Writes a probe's records: framed JSON lines on a file descriptor (the report pipe), or, with fd -1, plain text
// on stdout (running `validate --probe ...` by hand, e.g. under a debugger). Unbuffered: what was written survives
// a crash. Each record is "\n<token> <pid> <json>\n": a fresh line, the token the parent passed (--report-token)
// and the writer's pid, so that bytes a plugin writes to the pipe cannot merge with a record, and records of a
// process the plugin forked are told apart (validate_isolation.cpp). The records go through a close-on-exec copy of
// the descriptor taken before the library loads: a plugin that closes or reuses fd 3 cannot silence them.
class ProbeWriter {
 public:
  explicit ProbeWriter(int fd, std::string token = "", std::string library = "");
  void pass(const std::string& what) { put("PASS", what); }
  void fail(const std::string& what) {
    ++failures_;
    put("FAIL", what);
  }
  void note(const std::string& what) { put("NOTE", what); }
  void skip(const std::string& what) { put("SKIP", what); }
  void check(bool ok, const std::string& what, const std::string& why = "") {
    if (ok)
      pass(what);
    else
      fail(what + (why.empty() ? "" : ": " + why));
  }
  void step(const std::string& what) {
    put("STEP", what);  // first: a descriptor closed before this step is blamed on the step before
    last_step_ = what;
  }
  void plugin(const std::string& kind, const std::string& id) { put("PLUGIN", id, kind); }
  // This process's address space mapped but not resident, before the plugin loads (for the validator's estimate
  // of the probe's peak; not printed by hand).
  void mapped_not_resident(uint64_t bytes) {
    if (fd_ >= 0) put("MAPPED", std::to_string(bytes));
  }
  void end() { put("END", ""); }
  int failures() const { return failures_; }
  bool report_lost() const { return lost_; }  // a write found the report's descriptor closed

 private:
  void put(const char* type, const std::string& text, const std::string& kind = "");
  void write_record(const char* type, const std::string& text, const std::string& kind);
  void check_report_descriptor();
  int fd_;           // the report as the parent passed it (fd 3), or -1
  int copy_ = -1;    // where the records go: a copy of fd_
  std::string token_, library_, last_step_;
  uint64_t device_ = 0, inode_ = 0;  // what fd_ was when the probe began
  bool replaced_ = false, lost_ = false;
  int failures_ = 0;
};

// The exit status of a probe process whose report's descriptors a plugin closed (ProbeWriter::report_lost): its
// records were lost, and the parent says so rather than blaming an exit.
constexpr int kReportLostStatus = 89;  // not 86 or 66: scripts/sanitize.sh's sanitizer exit codes

// What one probe process is asked to do.
struct ProbeRequest {
  std::string probe;           // "load", "plugin", "concurrency" or "factory"
  std::string library;
  std::string plugin;          // the plugin's id (all probes but "load"), or:
  int plugin_index = -1;       // its index among the library's plugins (what the validator passes: no id on argv)
  int factory_case = 0;        // "factory": which bad argument (0 .. factory_case_count() - 1)
  bool create_models = false;  // "plugin": also create model plugins
  uint64_t memory_limit = 0;   // bytes, 0 = none: the limit the parent set, for messages
};

// The probes, in the order the command runs them: "load" lists the plugins (PLUGIN records); per plugin,
// "plugin" (descriptor checks, create with the default config and use), "concurrency" (posenc: two instances
// on two threads) and one "factory" per bad argument (factory_case_count() of them, named by factory_case_name).
int factory_case_count();
std::string factory_case_name(int index);

// Runs one probe in this process and writes its records, END last (after the library is unloaded). Failures of
// the plugin are FAIL records; a plugin that runs out of memory under the limit is reported as exceeding it.
void run_probe(const ProbeRequest& request, ProbeWriter& out);

// Limits of one probe process.
struct Limits {
  double timeout_seconds = 20;                     // 0 = none
  uint64_t memory_bytes = uint64_t(4) << 30;       // address space (RLIMIT_AS), 0 = none
};

// How a probe process ended.
struct Outcome {
  std::string failure;    // "" when it wrote END and exited 0; else what went wrong ("crashed with SIGSEGV ...")
  std::string last_step;  // the last STEP record: the check that was running
  bool ended = false;     // it wrote END: the failure came after the probe, while the process exited
  bool started = true;      // it wrote a record in time: the probe ran (it writes one before it loads the library)
  bool timed_out = false;   // killed at the time-out
  bool memory_like = false; // ended as a memory limit ends it: a signal, exit 127 (the loader), the resident check
  // Something other than the probe wrote to its report pipe (a plugin's bytes, or records of a process it forked):
  // what, and the check that was running then ("" when nothing did). Its records still count: they are framed.
  std::string foreign;
  std::string foreign_step;
  std::string exec_error;  // execve of the probe failed: why ("Argument list too long"), from the child; "" if it ran
  uint64_t mapped_not_resident = 0;  // what the probe said it mapped but did not hold resident, before the plugin
};

// Runs this program again (/proc/self/exe) with `args` (argv[1..]: the subcommand, then its arguments;
// "--report-fd 3 --report-token T" is added after the subcommand, T random per call) in a child process
// of its own process group, under `limits`, with core dumps off; passes each record to on_record as it arrives.
Outcome run_isolated(const std::vector<std::string>& args, const Limits& limits,
                     const std::function<void(const Record&)>& on_record);

// A process's mapped and resident size in pages (/proc/PROCESS/statm; PROCESS "self" or a pid); false when unread.
bool read_statm(const std::string& process, uint64_t& size, uint64_t& resident);

// "4 GiB", "512 MiB", "1536 KiB", "100 bytes".
std::string bytes_text(uint64_t bytes);
// host::parse_byte_count's grammar ("4G", "4GiB", "512M", "100K", "1048576"), and "0" or "off" for none; throws
// std::invalid_argument.
uint64_t parse_bytes(const std::string& text);

}  // namespace genplug::cli::validate
