// genplug host — SIGINT and SIGTERM as cancellation (cancel_signals.hpp).
#include "genplug/host/cancel_signals.hpp"

#include <signal.h>

#include <cstdlib>

#include "genplug/host/exr_writer.hpp"

namespace genplug::host {
namespace {

std::atomic<std::atomic<bool>*> g_cancel{nullptr};
std::atomic<int> g_signal{0};

extern "C" void on_cancel_signal(int signal) {
  int none = 0;
  if (!g_signal.compare_exchange_strong(none, signal)) {  // the second: no waiting, but no temporary file left
    unlink_pending_output();
    std::_Exit(128 + signal);
  }
  if (std::atomic<bool>* cancel = g_cancel.load()) cancel->store(true);
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
