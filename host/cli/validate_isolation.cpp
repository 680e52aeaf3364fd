// genplug validate — running one probe in a child process (validate.hpp): this program again, through
// /proc/self/exe, under a time-out and a memory limit, with its report read from a pipe as it comes.
//
// The child is exec'd, not merely forked: the validator never loads the plugin itself, and a plugin's threads
// or locks never meet a fork. It gets a process group of its own (a time-out kills whatever the plugin started
// too), SIGKILL when the validator dies (PR_SET_PDEATHSIG), no core dumps, stdin from /dev/null, and an address
// space limit (RLIMIT_AS). Builds with AddressSanitizer or ThreadSanitizer reserve terabytes of address space,
// so there the limit is enforced on the resident size instead, by polling /proc (the same check catches a
// flood in any build that RLIMIT_AS let through).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iterator>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <genplug/host/memory_budget.hpp>
#include <genplug/internal/bounded_json.hpp>

#include "validate.hpp"

extern char** environ;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GENPLUG_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define GENPLUG_SANITIZED 1
#endif
#endif

namespace genplug::cli::validate {
namespace {

#ifdef GENPLUG_SANITIZED
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

std::string seconds_text(double s) {
  std::ostringstream o;
  o << s;
  return o.str();
}

std::string signal_text(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  const char* what = ::strsignal(sig);
  return (abbrev ? "SIG" + std::string(abbrev) : "signal " + std::to_string(sig)) + (what ? " (" + std::string(what) + ")" : "");
}

// Resident bytes of process `pid` (0 when it cannot be read).
uint64_t resident_bytes(pid_t pid) {
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * uint64_t(::sysconf(_SC_PAGESIZE));
}

// The environment of the child: ours, and under a sanitizer, crashes left to the kernel (so that a plugin's
// SIGSEGV is reported as one, not as the sanitizer's exit status).
std::vector<std::string> child_environment() {
  static const char* const kSanitizers[] = {"ASAN_OPTIONS=", "TSAN_OPTIONS=", "UBSAN_OPTIONS="};
  std::vector<std::string> env, options(std::begin(kSanitizers), std::end(kSanitizers));
  for (char** e = environ; *e; ++e) {
    bool taken = false;
    for (std::string& o : options)
      if (kSanitized && std::strncmp(*e, o.c_str(), o.size()) == 0) o = std::string(*e) + ":", taken = true;
    if (!taken) env.emplace_back(*e);
  }
  if (kSanitized)
    for (const std::string& o : options) env.push_back(o + "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_abort=0");
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> p;
  for (auto& s : strings) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

constexpr int kReportFd = 3;  // the probe's report pipe, in the probe process

// Reads records from the report pipe; lines may arrive in pieces.
struct RecordReader {
  using Clock = std::chrono::steady_clock;
  std::string pending;
  Outcome& outcome;
  const std::function<void(const Record&)>& on_record;
  Clock::time_point deadline = Clock::time_point::max();
  bool ended = false;
  bool heard = false;  // any record at all: the probe process started
  // The first record was read after the deadline: the time-out stopped genplug's own start, whether or not the
  // kill came before the process ended (it may end between two looks). Its records are then not passed on.
  bool late = false;

  // The probe's records are short lines (a plugin's text in them is cut at 64 KiB): a longer one is not the probe's,
  // and is dropped as it comes, failing the probe. A plugin writing to the report without a newline had grown
  // `pending` without bound, rescanned whole at every read.
  static constexpr size_t kMaxRecord = size_t(1) << 20;
  bool skipping = false;  // within a line past kMaxRecord, until its newline
  bool overlong = false;  // a line was dropped

  void feed(const char* data, size_t n) {
    const size_t old_size = pending.size();  // no newline before it
    pending.append(data, n);
    size_t start = 0;
    for (size_t eol = pending.find('\n', old_size); eol != std::string::npos; eol = pending.find('\n', start)) {
      if (!skipping) take(pending.substr(start, eol - start));
      skipping = false;
      start = eol + 1;
    }
    pending.erase(0, start);
    if (pending.size() > kMaxRecord) {
      pending.clear();
      skipping = overlong = true;
    }
  }

  // A string field of a record ("" when absent or of another type: a line a plugin wrote is no record).
  static std::string field(const nlohmann::json& j, const char* name) {
    const auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : "";
  }

  void take(const std::string& line) {
    nlohmann::json j = internal::parse_bounded_json_or_discarded(line);
    if (!j.is_object()) return;  // not ours
    if (!heard) late = Clock::now() >= deadline;
    heard = true;
    Record r{field(j, "type"), field(j, "text"), field(j, "kind")};
    if (r.type == "STEP")
      outcome.last_step = r.text;
    else if (r.type == "END")
      ended = true;
    else if (!late)
      on_record(r);
  }
};

// What went wrong, from the child's end and what the validator saw.
std::string failure_of(int status, const RecordReader& reader, bool timed_out, bool flooded, uint64_t peak,
                       const Limits& limits) {
  const std::string limit = bytes_text(limits.memory_bytes);
  const bool ended = reader.ended;
  if (timed_out) return "timed out after " + seconds_text(limits.timeout_seconds) + " s (killed)";
  if (flooded) return "exceeded the memory limit of " + limit + " (killed at " + bytes_text(peak) + " resident)";
  if (reader.overlong)  // the probe's own lines are far shorter: something else wrote to the report
    return "wrote a line of more than 1 MiB to the probe's report (file descriptor " + std::to_string(kReportFd) +
           "; a plugin must not write to descriptors it did not open)";
  if (!reader.heard) {  // genplug itself, before the probe began: no plugin was loaded yet
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
      return "could not start (exit status 127: the program or one of its libraries could not be loaded)";
    return WIFSIGNALED(status) ? "crashed with " + signal_text(WTERMSIG(status))
                               : "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (clean && ended) return "";
  std::string how = WIFSIGNALED(status) ? "crashed with " + signal_text(WTERMSIG(status))
                    : ended ? "exited with status " + std::to_string(WEXITSTATUS(status))
                            : "ended the process with exit status " + std::to_string(WEXITSTATUS(status)) +
                                  " before the probe finished (a plugin must never call exit)";
  if (ended) how += " after the probe, while the process exited (library destructors or exit handlers)";
  // Out of address space, a plugin that does not check what malloc returns crashes: name the cause.
  if (limits.memory_bytes && peak >= limits.memory_bytes / 2)
    return "exceeded the memory limit of " + limit + " (" + bytes_text(peak) + " resident at the peak), then " + how;
  return how;
}

}  // namespace

Outcome run_isolated(const std::vector<std::string>& args, const Limits& limits,
                     const std::function<void(const Record&)>& on_record) {
  std::vector<std::string> argv_text = {"genplug"};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  // After the subcommand, before anything else (the arguments may end with "--" and positionals).
  argv_text.insert(argv_text.begin() + (args.empty() ? 1 : 2), {"--report-fd", std::to_string(kReportFd)});
  std::vector<std::string> env_text = child_environment();
  std::vector<char*> argv = pointers(argv_text), envp = pointers(env_text);
  const rlim_t address_space = kSanitized ? 0 : rlim_t(limits.memory_bytes);

  // From before the fork: a parent that runs late after it must not move the deadline past the child's start.
  using Clock = std::chrono::steady_clock;
  const double timeout = std::min(limits.timeout_seconds, 1e9);  // ~30 years: as good as none, and no overflow
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout));
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(report[0]);
    ::close(report[1]);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {  // async-signal-safe calls only until exec
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    if (report[1] == kReportFd)
      ::fcntl(kReportFd, F_SETFD, 0);
    else
      ::dup2(report[1], kReportFd);  // the copy is not close-on-exec
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    if (address_space) {
      const rlimit as{address_space, address_space};
      ::setrlimit(RLIMIT_AS, &as);
    }
    ::execve("/proc/self/exe", argv.data(), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: no race with the kill below
  ::close(report[1]);

  Outcome outcome;
  RecordReader reader{{}, outcome, on_record};
  if (limits.timeout_seconds > 0) reader.deadline = deadline;
  bool timed_out = false, flooded = false, exited = false, pipe_open = true;
  uint64_t peak = 0;
  int status = 0;
  rusage usage{};
  auto kill_group = [&] { ::kill(-pid, SIGKILL); };
  while (!exited) {
    if (pipe_open) {
      pollfd p{report[0], POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) {
        char buf[4096];
        const ssize_t n = ::read(report[0], buf, sizeof buf);
        if (n > 0)
          reader.feed(buf, size_t(n));
        else if (n == 0 || errno != EINTR)
          pipe_open = false;
      }
    } else {
      ::usleep(20000);  // the plugin closed the report pipe: wait for the process itself
    }
    const pid_t done = ::wait4(pid, &status, WNOHANG, &usage);
    if (done == pid) {
      exited = true;
      break;
    }
    if (timed_out || flooded) continue;  // killed: wait for it to go
    if (limits.timeout_seconds > 0 && Clock::now() >= deadline) {
      timed_out = true;
      kill_group();
    } else if (limits.memory_bytes) {
      const uint64_t rss = resident_bytes(pid);
      peak = std::max(peak, rss);
      if (rss > limits.memory_bytes) {
        flooded = true;
        kill_group();
      }
    }
  }
  // What the child wrote before it ended (a process it started may hold the pipe open: read what is there).
  for (pollfd p{report[0], POLLIN, 0}; pipe_open && ::poll(&p, 1, 0) > 0;) {
    char buf[4096];
    const ssize_t n = ::read(report[0], buf, sizeof buf);
    if (n <= 0) break;
    reader.feed(buf, size_t(n));
  }
  ::close(report[0]);
  ::kill(-pid, SIGKILL);  // anything the plugin left running in the group
  peak = std::max(peak, uint64_t(usage.ru_maxrss) * 1024);
  outcome.failure = failure_of(status, reader, timed_out, flooded, peak, limits);
  // A first record read after the deadline came too late to count, even from a process that then ended before
  // the kill: the time-out stopped genplug's own start.
  if (reader.late && !timed_out) outcome.failure = "timed out after " + seconds_text(limits.timeout_seconds) + " s";
  outcome.ended = reader.ended;
  outcome.started = reader.heard && !reader.late;
  outcome.timed_out = timed_out || reader.late;
  outcome.memory_like = flooded || WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 127);
  return outcome;
}

std::string bytes_text(uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  double v = double(bytes);
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  std::ostringstream o;
  o.precision(v < 10 && u > 0 && std::fmod(v, 1.0) != 0 ? 2 : 4);
  o << v << " " << (bytes == 1 ? "byte" : units[u]);
  return o.str();
}

uint64_t parse_bytes(const std::string& text) {
  if (text == "off") return 0;
  const std::optional<double> bytes = host::parse_byte_count(text);  // the grammar of `run`'s --memory-limit
  if (!bytes) throw std::invalid_argument("'" + text + "' is not a size (e.g. 4G, 512M; 0 or off for no limit)");
  if (*bytes >= host::kTwoTo64) throw std::invalid_argument("'" + text + "' is 2^64 bytes or more");
  if (*bytes > 0 && *bytes < 1)  // would round to 0, which turns the limit off
    throw std::invalid_argument("'" + text + "' is less than one byte (0 for no limit)");
  return uint64_t(*bytes);
}

}  // namespace genplug::cli::validate
