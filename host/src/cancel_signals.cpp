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

}  // namespace

void install_cancel_signals(std::atomic<bool>& cancel) {
  g_cancel.store(&cancel);
  struct sigaction action {};
  action.sa_handler = on_cancel_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocked open() or read() returns EINTR
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int cancel_signal() noexcept { return g_signal.load(); }

}  // namespace genplug::host
