#include "mapped_file_fault.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include <genplug/host/exr_writer.hpp>

#include "crash_report.hpp"

namespace genplug::cli {
namespace {

std::atomic<bool> g_reported{false};

// Async-signal-safe: write(2), unlink (unlink_pending_output), _exit, or the crash report. Not reset to the default
// action: a second thread faulting on the same mapping before _exit also waits here (SIGBUS is blocked while it
// runs, and a synchronous fault on a blocked signal would take the default action: "Bus error" after all).
void on_sigbus(int signal, siginfo_t* info, void* context) {
  // Not a mapped file's: any other crash; nor while a crash report runs, which ends the process by its signal.
  if ((info->si_code != BUS_ADRERR && info->si_code != BUS_OBJERR) || crash_report_claimed()) {
    report_crash(signal, info, context);
    return;
  }
  if (!g_reported.exchange(true)) {
    host::unlink_pending_output();
    static const char message[] =
        "genplug: error: a memory-mapped file was cut short, or could not be read, while in use (a weights file "
        "copied onto in place, or a disk error); nothing more was done, and no output was written. Replace model "
        "files by renaming a complete copy over them (docs/flux.md)\n";
    [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, message, sizeof message - 1);
  }
  ::_exit(75);  // EX_TEMPFAIL, as every retryable failure (docs/cli.md)
}

}  // namespace

void install_mapped_file_fault_handler() {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, nullptr);
}

}  // namespace genplug::cli
