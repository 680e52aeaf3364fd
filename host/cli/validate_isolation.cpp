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
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <random>
#include <utility>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <genplug/host/memory_budget.hpp>
#include <genplug/internal/bounded_json.hpp>
#include <genplug/internal/regular_file.hpp>
#include <genplug/internal/sanitized.hpp>

#include "validate.hpp"

extern char** environ;

namespace genplug::cli::validate {
namespace {

using internal::kSanitized;

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

// What a plugin wrote, for a message: its first bytes.
std::string excerpt(const std::string& bytes) {
  constexpr size_t kShown = 60;
  return bytes.size() <= kShown ? bytes : bytes.substr(0, kShown) + "... (" + std::to_string(bytes.size()) + " bytes)";
}

// Reads records from the report pipe; lines may arrive in pieces. A record is a whole line "<token> <pid> <json>"
// (ProbeWriter): anything else on the pipe is bytes a plugin wrote, and a record of another pid is a process the
// plugin forked. Neither counts, and the first of either fails the check (Outcome::foreign): a plugin's bytes without
// a newline had swallowed the next record (a FAIL lost, exit 0), and a fork in init had doubled every record.
struct RecordReader {
  using Clock = std::chrono::steady_clock;
  std::string pending;
  Outcome& outcome;
  const std::function<void(const Record&)>& on_record;
  std::string prefix;  // "<token> "
  pid_t child = 0;
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

  // A string field of a record ("" when absent or of another type).
  static std::string field(const nlohmann::json& j, const char* name) {
    const auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : "";
  }

  // The writer's pid and the record of a whole framed line; pid 0 when the line is no record.
  std::pair<pid_t, nlohmann::json> parse(const std::string& line) const {
    if (prefix.size() < 2 || line.compare(0, prefix.size(), prefix) != 0) return {0, {}};
    const size_t space = line.find(' ', prefix.size());
    const std::string digits = line.substr(prefix.size(), space == std::string::npos ? 0 : space - prefix.size());
    if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos)
      return {0, {}};
    nlohmann::json j = internal::parse_bounded_json_or_discarded(line.substr(space + 1));
    if (!j.is_object() || field(j, "type").empty()) return {0, {}};
    return {pid_t(std::stol(digits)), std::move(j)};
  }

  void foreign(const std::string& what) {
    if (!outcome.foreign.empty()) return;  // the first says it
    outcome.foreign = what;
    outcome.foreign_step = outcome.last_step;
  }

  void take(const std::string& line) {
    if (line.empty()) return;  // each record starts a fresh line
    auto [pid, j] = parse(line);
    if (pid == 0)
      return foreign("wrote to the probe's report, file descriptor " + std::to_string(kReportFd) +
                     ", which it did not open: \"" + excerpt(line) + "\"");
    if (pid != child)
      return foreign("forked a process (pid " + std::to_string(pid) + ") that went on with the probe without exec "
                     "and wrote its records to the probe's report; they were not counted");
    if (!heard) late = Clock::now() >= deadline;
    heard = true;
    Record r{field(j, "type"), field(j, "text"), field(j, "kind")};
    if (r.type == "STEP")
      outcome.last_step = r.text;
    else if (r.type == "MAPPED")
      outcome.mapped_not_resident = std::strtoull(r.text.c_str(), nullptr, 10);
    else if (r.type == "END")
      ended = true;
    else if (!late)
      on_record(r);
  }
};

}  // namespace

bool read_statm(const std::string& process, uint64_t& size, uint64_t& resident) {
  std::ifstream statm("/proc/" + process + "/statm");
  return bool(statm >> size >> resident);
}

namespace {

// The peak address space of the probe process, as far as the validator can tell: the largest it saw, or the peak
// resident size plus what the probe mapped but did not hold before its plugin loaded (its libraries, its reserve).
// Not a sample's mapped-but-not-resident part: one taken while a plugin touched a fresh block counted the block
// twice (a crash at 212 of 512 MiB was put on the limit).
struct MemoryWatch {
  uint64_t resident_peak = 0, size_peak = 0, nonresident = 0;
  // What the probe said it mapped but did not hold resident before its plugin loaded (a probe that floods and
  // dies before its first sample shows nothing else: its peak had looked like 172 of 256 MiB).
  void at_least_mapped(uint64_t bytes) {
    if (!kSanitized) nonresident = std::max(nonresident, bytes);
  }
  void sample(pid_t pid) {
    uint64_t size = 0, resident = 0;
    if (!read_statm(std::to_string(pid), size, resident)) return;
    const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
    resident_peak = std::max(resident_peak, resident * page);
    if (kSanitized) return;  // terabytes of shadow: the limit is on the resident size
    size_peak = std::max(size_peak, size * page);
  }
  uint64_t address_peak() const { return std::max(size_peak, resident_peak + nonresident); }
  // Whether the process came near enough to the limit to have been refused memory. The peak resident size alone
  // (>= half the limit) had blamed the limit for a crash at 312 MiB of 512 MiB.
  bool near(uint64_t limit) const {
    if (!limit) return false;
    const uint64_t margin = std::max(limit / 8, uint64_t(64) << 20);
    return address_peak() + margin >= limit;
  }
};

// fork's errno, and for EAGAIN the limits that may have bound: ulimit -u, counted over all of the processes of the
// real user (root is exempt), or a cgroup's pids.max or the system's thread count, which no rlimit shows.
std::string fork_error_text(int error) {
  std::string text = std::strerror(error);
  if (error != EAGAIN) return text;
  const std::string others = "a cgroup's pids limit or the system's thread limit";
  struct rlimit limit {};
  if (::getuid() == 0 || ::getrlimit(RLIMIT_NPROC, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
    return text + " (" + others + ")";
  return text + " (ulimit -u is " + std::to_string(limit.rlim_cur) + ", over all of the user's processes; or " +
         others + ")";
}

std::string exec_error_text(int error) {
  std::string text = std::string("execve(/proc/self/exe): ") + std::strerror(error);
  if (error == E2BIG) text += " (the environment and arguments are larger than the kernel passes to a program)";
  return text;
}

// How a probe process that started ended, when it did not end cleanly with its END record.
std::string end_text(int status, const RecordReader& reader, bool foreign) {
  if (WIFSIGNALED(status)) return "crashed with " + signal_text(WTERMSIG(status));
  const int code = WEXITSTATUS(status);
  if (!reader.ended && code == kReportLostStatus)
    return "closed the probe's report (file descriptor " + std::to_string(kReportFd) +
           " and the copy the probe writes to): the probe's records were lost";
  if (reader.ended) return "exited with status " + std::to_string(code);
  if (foreign)
    return "ended the process with exit status " + std::to_string(code) + " before the probe's last record (END) "
           "came: its report was written to by something other than the probe (above)";
  return "ended the process with exit status " + std::to_string(code) +
         " before the probe finished (a plugin must never call exit)";
}

// What went wrong, from the child's end and what the validator saw.
std::string failure_of(int status, const RecordReader& reader, bool timed_out, bool flooded, const MemoryWatch& memory,
                       const Limits& limits) {
  const std::string limit = bytes_text(limits.memory_bytes);
  const uint64_t peak = memory.resident_peak;
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
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && reader.ended) return "";
  std::string how = end_text(status, reader, !reader.outcome.foreign.empty());
  if (reader.ended) how += " after the probe, while the process exited (library destructors or exit handlers)";
  // Out of address space, a plugin that does not check what malloc returns crashes: name the cause.
  if (memory.near(limits.memory_bytes))
    return "exceeded the memory limit of " + limit + " (" + bytes_text(peak) + " resident at the peak), then " + how;
  if (limits.memory_bytes && WIFSIGNALED(status) && peak >= limits.memory_bytes / 4)
    how += " (" + bytes_text(peak) + " resident at the peak, under the memory limit of " + limit + ")";
  return how;
}

// 16 random hex digits: the frame of this probe's records.
std::string random_token() {
  std::random_device random;
  std::ostringstream o;
  o << std::hex << random() << random();
  std::string token = o.str();
  token.resize(16, '0');
  return token;
}

// The errno execve sent back on the close-on-exec pipe `fd` (0 when exec succeeded: the pipe closed empty).
int exec_errno(int fd) {
  int error = 0;
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) > 0 && ::read(fd, &error, sizeof error) != ssize_t(sizeof error)) error = 0;
  return error;
}

// Reads what is on the report pipe now; false at its end (or an error).
bool read_some(int fd, RecordReader& reader) {
  char buf[65536];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  if (n > 0) reader.feed(buf, size_t(n));
  return n > 0 || (n < 0 && errno == EINTR);
}

// What the child wrote before it ended, once its group is killed: a process that left the group may hold the
// pipe open and keep writing, so a bounded amount.
void drain(int fd, RecordReader& reader) {
  const auto stop = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  for (pollfd p{fd, POLLIN, 0}; ::poll(&p, 1, 0) > 0 && std::chrono::steady_clock::now() < stop;)
    if (!read_some(fd, reader)) break;
}

// Kills the probe process and its group: the process itself too, since a plugin may move it out of its group
// (setpgid), which had left a timed-out probe running and the validator waiting on it for ever.
void kill_probe(pid_t pid) {
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
}

}  // namespace

Outcome run_isolated(const std::vector<std::string>& args, const Limits& limits,
                     const std::function<void(const Record&)>& on_record) {
  std::vector<std::string> argv_text = {"genplug"};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  const std::string token = random_token();
  // After the subcommand, before anything else (the arguments may end with "--" and positionals).
  argv_text.insert(argv_text.begin() + (args.empty() ? 1 : 2),
                   {"--report-fd", std::to_string(kReportFd), "--report-token", token});
  std::vector<std::string> env_text = child_environment();
  std::vector<char*> argv = pointers(argv_text), envp = pointers(env_text);
  const rlim_t address_space = kSanitized ? 0 : rlim_t(limits.memory_bytes);

  // From before the fork: a parent that runs late after it must not move the deadline past the child's start.
  using Clock = std::chrono::steady_clock;
  const double timeout = std::min(limits.timeout_seconds, 1e9);  // ~30 years: as good as none, and no overflow
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout));
  int report[2], exec_error[2];  // exec_error: execve's errno, else closed by the exec
  using genplug::internal::open_error_text;  // names ulimit -n when the descriptors ran out
  if (::pipe2(report, O_CLOEXEC) != 0) throw std::runtime_error("pipe: " + open_error_text(errno));
  if (::pipe2(exec_error, O_CLOEXEC) != 0) {
    const int error = errno;
    ::close(report[0]);
    ::close(report[1]);
    throw std::runtime_error("pipe: " + open_error_text(error));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    for (int fd : {report[0], report[1], exec_error[0], exec_error[1]}) ::close(fd);
    throw std::runtime_error("fork: " + fork_error_text(error));
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
    const int error = errno;  // E2BIG had been blamed on --memory-limit: say what failed
    if (::write(exec_error[1], &error, sizeof error) < 0) {
    }
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: no race with the kill below
  ::close(report[1]);
  ::close(exec_error[1]);

  Outcome outcome;
  RecordReader reader{{}, outcome, on_record, token + " ", pid};
  if (limits.timeout_seconds > 0) reader.deadline = deadline;
  bool timed_out = false, flooded = false, exited = false, pipe_open = true, unkillable = false;
  MemoryWatch memory;
  int status = 0;
  rusage usage{};
  auto killed_at = Clock::time_point::max();
  auto kill_now = [&] {
    kill_probe(pid);
    killed_at = Clock::now();
  };
  while (!exited) {
    if (pipe_open) {
      pollfd p{report[0], POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) pipe_open = read_some(report[0], reader);
    } else {
      ::usleep(20000);  // the plugin closed the report pipe: wait for the process itself
    }
    const pid_t done = ::wait4(pid, &status, WNOHANG, &usage);
    if (done == pid) {
      exited = true;
      break;
    }
    if (timed_out || flooded) {  // killed: wait for it to go, but not for ever (a process stuck in the kernel)
      if (Clock::now() - killed_at > std::chrono::seconds(10)) {
        unkillable = true;
        break;
      }
      continue;
    }
    if (limits.timeout_seconds > 0 && Clock::now() >= deadline) {
      timed_out = true;
      kill_now();
    } else if (limits.memory_bytes) {
      memory.sample(pid);
      if (memory.resident_peak > limits.memory_bytes) {
        flooded = true;
        kill_now();
      }
    }
  }
  // Anything the plugin left running in the group, before the drain (a writer that never stops). The probe itself
  // is reaped once it exited, and its number may be another process's by now: only the group is signalled then.
  if (exited) {
    // A process still in the probe's group once the probe ended is the plugin's: a fork that went on without exec
    // (whose records may not have come yet: this finds it either way).
    if (::kill(-pid, 0) == 0)
      reader.foreign("left a process running in the probe's process group after the probe ended (a fork without "
                     "exec?); it was killed");
    ::kill(-pid, SIGKILL);
  } else {
    kill_probe(pid);
  }
  drain(report[0], reader);
  ::close(report[0]);
  const int exec_errno_value = exited ? exec_errno(exec_error[0]) : 0;
  ::close(exec_error[0]);
  memory.resident_peak = std::max(memory.resident_peak, uint64_t(usage.ru_maxrss) * 1024);
  memory.at_least_mapped(outcome.mapped_not_resident);
  outcome.failure = failure_of(status, reader, timed_out, flooded, memory, limits);
  if (unkillable) outcome.failure += "; it did not end within 10 s of SIGKILL, and was left behind";
  // A first record read after the deadline came too late to count, even from a process that then ended before
  // the kill: the time-out stopped genplug's own start.
  if (reader.late && !timed_out) outcome.failure = "timed out after " + seconds_text(limits.timeout_seconds) + " s";
  outcome.ended = reader.ended;
  outcome.started = reader.heard && !reader.late;
  outcome.timed_out = timed_out || reader.late;
  outcome.memory_like = flooded || WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 127);
  if (exec_errno_value) {
    outcome.exec_error = exec_error_text(exec_errno_value);
    outcome.failure = "could not start: " + outcome.exec_error;
    outcome.memory_like = exec_errno_value == ENOMEM;
  }
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
