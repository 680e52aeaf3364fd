#include "mapped_file_fault.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstring>

namespace genplug::cli {
namespace {

void on_sigbus(int, siginfo_t*, void*) {
  static const char message[] =
      "genplug: error: a memory-mapped file was cut short, or could not be read, while in use (a weights file "
      "copied onto in place, or a disk error); the job in progress was not written. Replace model files by "
      "renaming a complete copy over them (docs/flux.md)\n";
  [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, message, sizeof message - 1);
  ::_exit(75);  // EX_TEMPFAIL, as every retryable failure (docs/cli.md)
}

}  // namespace

void install_mapped_file_fault_handler() {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_RESETHAND;  // a fault in the handler itself ends the process as before
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, nullptr);
}

}  // namespace genplug::cli
