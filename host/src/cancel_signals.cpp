// genplug host — SIGINT and SIGTERM as cancellation (cancel_signals.hpp).
#include "genplug/host/cancel_signals.hpp"

#include <signal.h>
#include <time.h>

#include <cstdint>
#include <cstdlib>

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

extern "C" void on_cancel_signal(int signal) {
  if (g_claimed.exchange(1) == 0) {  // the first: cancel
    g_first_ns.store(monotonic_ns());
    g_signal.store(signal);
    if (std::atomic<bool>* cancel = g_cancel.load()) cancel->store(true);
    return;
  }
  if (repeat_of_first(signal)) return;
  unlink_pending_output();  // the second: no waiting, but no temporary file left
  std::_Exit(128 + signal);
}

extern "C" void on_exit_signal(int signal) {
  unlink_pending_output();
  std::_Exit(128 + signal);
}

void install(void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocked open() or read() returns EINTR
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

}  // namespace

void install_cancel_signals(std::atomic<bool>& cancel) {
  g_cancel.store(&cancel);
  install(on_cancel_signal);
}

void install_exit_signals() { install(on_exit_signal); }

int cancel_signal() noexcept { return g_signal.load(); }

}  // namespace genplug::host
