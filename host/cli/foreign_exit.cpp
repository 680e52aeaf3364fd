#include "foreign_exit.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <genplug/host/exr_writer.hpp>
#include <genplug/host/errors.hpp>

namespace genplug::cli {
namespace {

std::atomic<bool> g_finished{false};

// Runs inside exit(), on whichever thread called it, after the handlers registered since (a plugin's static
// destructors: one that deadlocks or crashes there ends the process before this line). Allocates nothing.
void on_foreign_exit(int status, void*) {
  if (g_finished.load()) return;
  char line[256];
  const int n = std::snprintf(line, sizeof line,
                              "genplug: error: exit(%d) was called by a plugin or a library it uses before genplug "
                              "finished (a plugin must never call exit); nothing more was done\n",
                              status);
  if (n > 0) (void)!::write(STDERR_FILENO, line, std::strlen(line));
  host::unlink_pending_output();
  ::_exit(static_cast<int>(host::ErrorKind::plugin));
}

}  // namespace

void guard_against_foreign_exit() { ::on_exit(on_foreign_exit, nullptr); }

void genplug_finished() { g_finished.store(true); }

}  // namespace genplug::cli
