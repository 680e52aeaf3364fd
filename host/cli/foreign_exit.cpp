#include "foreign_exit.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <genplug/host/exr_writer.hpp>
#include <genplug/host/errors.hpp>

#include "crash_report.hpp"

namespace genplug::cli {
namespace {

std::atomic<bool> g_guarding{false};
std::atomic<bool> g_finished{false};
pid_t g_guarded_process = 0;  // genplug's: a child a plugin forked exits with its own status

// Runs first thing in exit() (interposed, below), else inside it after the handlers registered since; on
// whichever thread called it. Allocates nothing.
void on_foreign_exit(int status, void*) {
  if (!g_guarding.load() || g_finished.load() || ::getpid() != g_guarded_process) return;
  if (crash_report_claimed())  // another thread is reporting a crash: its end, by the crash's signal, is the one
    for (;;) ::pause();
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

void guard_against_foreign_exit() {
  g_guarded_process = ::getpid();
  g_guarding.store(true);
  ::on_exit(on_foreign_exit, nullptr);  // for a call the interposition below does not see (inside libc: error())
}

void genplug_finished() { g_finished.store(true); }

}  // namespace genplug::cli

// exit() itself, for every library the process loads: the executable exports it (host/CMakeLists.txt), so a
// plugin's call binds here, and the guard acts before any exit handler runs. Through on_exit alone, a plugin's own
// static destructors (registered after the guard, so run before it) had run first, and one that waited for a
// thread of its own hung the process. genplug's own end (main returning) calls libc's exit directly.
namespace {
using Exit = void (*)(int);
// libc's exit, found before main: looked up inside exit(), dlsym would wait for the dynamic loader's lock, which a
// thread in dlopen may hold while it waits for the one exiting.
const Exit g_libc_exit = reinterpret_cast<Exit>(dlsym(RTLD_NEXT, "exit"));
}  // namespace

extern "C" void exit(int status) noexcept {  // noreturn, as <stdlib.h> declares it
  genplug::cli::on_foreign_exit(status, nullptr);  // returns where genplug has finished, or guards nothing
  if (g_libc_exit) g_libc_exit(status);
  std::_Exit(status);  // no libc exit to be found: not reached on glibc
}
