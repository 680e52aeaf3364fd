// genplug host — SIGINT and SIGTERM as cancellation (cancel_signals.hpp).
#include "genplug/host/cancel_signals.hpp"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "genplug/host/exr_writer.hpp"

namespace genplug::host {
namespace {

std::atomic<std::atomic<bool>*> g_cancel{nullptr};
std::atomic<int> g_signal{0};    // the first signal, once recorded
std::atomic<int> g_claimed{0};   // 1 from the moment a handler starts recording the first signal
std::atomic<int64_t> g_first_ns{0};

int64_t monotonic_ns() {  // clock_gettime is async-signal-safe
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// The first signal once more within 0.25 s: one request delivered twice, not a second one. GNU timeout signals
// the process and then its process group (kill(pid), kill(0)), and passes on a signal its group got (a farm's
// kill of the whole group, Slurm's scancel), so one time-out reaches genplug twice, from two senders; no person
// sends a second one that fast.
bool repeat_of_first(int signal) {
  if (g_signal.load() == 0) return true;  // the first is still being recorded on another thread
  return signal == g_signal.load() && monotonic_ns() - g_first_ns.load() < 250000000;
}

std::atomic<bool> g_from_self{false};

// A signal the process sent itself (raise, kill(getpid())): no person's or farm's request, but a library giving up,
// as OpenBLAS raises SIGINT when it cannot start its threads (a ulimit -u or -v too low), expecting to end the
// process. getpid is async-signal-safe.
bool sent_by_this_process(const siginfo_t* info) { return info && info->si_code <= 0 && info->si_pid == ::getpid(); }

// What the process ends with when it does not wait: a library's own signal is a failure of the plugin under it.
int exit_status(int signal) { return g_from_self.load() ? 4 : 128 + signal; }

// What is said then, for a library's own signal.
constexpr char kLibrarySignalText[] =
    "a library raised SIGINT or SIGTERM in genplug's own process (OpenBLAS does when it cannot start its threads: "
    "ulimit -u or -v)";

// `text` on stderr as a line of its own after `prefix` (a progress line may be unfinished). Async-signal-safe.
void write_line(const char* prefix, const char* text, std::size_t size) {
  const std::pair<const char*, std::size_t> pieces[] = {
      {"\n", 1}, {prefix, std::strlen(prefix)}, {text, size}, {"\n", 1}};
  for (const auto& [data, n] : pieces) [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, data, n);
}

// The grace after the first signal: a timer of its own (a plugin may use alarm() or setitimer), whose signal is a
// real-time one no library is known to use (glibc takes the first two or three; the crash report SIGRTMAX - 3).
timer_t g_grace_timer;
bool g_have_grace_timer = false;
time_t g_grace_seconds = 0;
pid_t g_installed_by = 0;  // a child a plugin forked inherits the handler, not the timer: it arms nothing
char g_grace_text[160];  // formatted with the grace's seconds when installed
std::size_t g_grace_text_size = 0;
// The caller's lines for standard output as the grace ends the process (a --progress jsonl monitor's last event):
// SIGINT's, SIGTERM's, a library's own signal's. Set before any signal can come; read only by the handler.
char g_grace_out[3][1024];
std::size_t g_grace_out_size[3] = {0, 0, 0};

void write_grace_out(int signal) {
  const int which = g_from_self.load() ? 2 : signal == SIGTERM ? 1 : 0;
  if (g_grace_out_size[which] == 0) return;
  [[maybe_unused]] const ssize_t written = ::write(STDOUT_FILENO, g_grace_out[which], g_grace_out_size[which]);
}

int grace_signal() { return SIGRTMAX - 4; }

// The grace is over and the call the signal found running has not come back to look at the cancel flag (OpenBLAS
// 0.3.21 retries a failed buffer allocation for ever under ulimit -v): end as a second signal would.
extern "C" void on_grace_over(int, siginfo_t* info, void*) {
  if (!info || info->si_code != SI_TIMER || info->si_value.sival_ptr != &g_grace_timer) return;  // not our timer
  if (g_from_self.load())
    write_line("genplug: error: ", kLibrarySignalText, sizeof kLibrarySignalText - 1);
  else
    write_line("genplug: ", g_grace_text, g_grace_text_size);
  write_grace_out(g_signal.load());
  unlink_pending_output();
  std::_Exit(exit_status(g_signal.load()));
}

void arm_grace() {  // timer_settime and getpid are async-signal-safe
  if (!g_have_grace_timer || ::getpid() != g_installed_by) return;
  itimerspec when{};
  when.it_value.tv_sec = g_grace_seconds;
  timer_settime(g_grace_timer, 0, &when, nullptr);
}

extern "C" void on_cancel_signal(int signal, siginfo_t* info, void*) {
  if (g_claimed.exchange(1) == 0) {  // the first: cancel, and end anyway when the grace is over
    g_first_ns.store(monotonic_ns());
    g_from_self.store(sent_by_this_process(info));
    g_signal.store(signal);
    if (std::atomic<bool>* cancel = g_cancel.load()) cancel->store(true);
    arm_grace();
    return;
  }
  if (repeat_of_first(signal)) return;
  unlink_pending_output();  // the second: no waiting, but no temporary file left
  std::_Exit(128 + signal);
}

extern "C" void on_exit_signal(int signal, siginfo_t* info, void*) {
  static const char kCancelled[] = "cancelled (SIGINT)", kTerminated[] = "terminated (SIGTERM)";
  if (sent_by_this_process(info))
    write_line("genplug: error: ", kLibrarySignalText, sizeof kLibrarySignalText - 1);
  else if (signal == SIGINT)  // every error is a line on stderr, a cancellation too (it had ended silently)
    write_line("genplug: error: ", kCancelled, sizeof kCancelled - 1);
  else
    write_line("genplug: error: ", kTerminated, sizeof kTerminated - 1);
  unlink_pending_output();
  std::_Exit(sent_by_this_process(info) ? 4 : 128 + signal);
}

void install(void (*handler)(int, siginfo_t*, void*)) {
  struct sigaction action {};
  action.sa_sigaction = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_SIGINFO;  // no SA_RESTART: a blocked open() or read() returns EINTR
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

// The grace's timer and handler, made once (a second install keeps the first timer and takes the new grace).
void install_grace(std::chrono::seconds grace) {
  g_grace_seconds = time_t(std::max<std::chrono::seconds::rep>(grace.count(), 0));
  std::snprintf(g_grace_text, sizeof g_grace_text,
                "stopped %lld s after the signal, without waiting for the plugin call under way to return "
                "(GENPLUG_CANCEL_GRACE)",
                static_cast<long long>(grace.count()));
  g_grace_text_size = std::strlen(g_grace_text);
  g_installed_by = ::getpid();
  if (g_grace_seconds == 0 || g_have_grace_timer) return;
  struct sigaction action {};
  action.sa_sigaction = on_grace_over;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  sigaction(grace_signal(), &action, nullptr);
  sigevent when_due{};
  when_due.sigev_notify = SIGEV_SIGNAL;
  when_due.sigev_signo = grace_signal();
  when_due.sigev_value.sival_ptr = &g_grace_timer;
  g_have_grace_timer = timer_create(CLOCK_MONOTONIC, &when_due, &g_grace_timer) == 0;
}

}  // namespace

void install_cancel_signals(std::atomic<bool>& cancel, std::chrono::seconds grace) {
  g_cancel.store(&cancel);
  install_grace(grace);
  install(on_cancel_signal);
}

void install_exit_signals() { install(on_exit_signal); }

std::string cancel_grace_text() { return std::string(g_grace_text, g_grace_text_size); }

std::string library_signal_text() { return kLibrarySignalText; }

void set_cancel_grace_lines(const std::string& interrupted, const std::string& terminated,
                            const std::string& library_signal) {
  const std::string* lines[3] = {&interrupted, &terminated, &library_signal};
  for (int i = 0; i < 3; ++i) {
    const std::size_t n = lines[i]->size() < sizeof g_grace_out[i] ? lines[i]->size() : 0;  // whole, or none
    std::memcpy(g_grace_out[i], lines[i]->data(), n);
    g_grace_out_size[i] = n;
  }
}

void disarm_cancel_grace() noexcept {
  if (!g_have_grace_timer || ::getpid() != g_installed_by) return;  // a forked child's timer is not ours
  itimerspec never{};
  timer_settime(g_grace_timer, 0, &never, nullptr);
}

int cancel_signal() noexcept { return g_signal.load(); }

bool cancel_signal_from_self() noexcept { return g_signal.load() != 0 && g_from_self.load(); }

}  // namespace genplug::host
