// genplug host — atomic output files (atomic_output.hpp) and the signal-safe clean-up of the one in progress.
#include "atomic_output.hpp"

#include "genplug/host/errors.hpp"
#include "genplug/host/exr_writer.hpp"

namespace genplug::host {
namespace {

// The temporary file being written, for unlink_pending_output() from a signal handler: a fixed buffer (no
// allocation in the handler) guarded by a flag set only while the buffer holds a complete path.
char g_pending_path[4096];
std::atomic<bool> g_pending{false};
std::atomic<pid_t> g_pending_writer{0};  // the process writing it: a child a plugin forked leaves it alone

}  // namespace

void set_pending_output(const fs::path& path) noexcept {
  g_pending.store(false);
  const char* s = path.c_str();
  const size_t n = std::strlen(s);
  if (n >= sizeof g_pending_path) return;  // too long to remember: the normal paths still clean up
  std::memcpy(g_pending_path, s, n + 1);
  g_pending_writer.store(::getpid());
  g_pending.store(true);
}

void clear_pending_output() noexcept { g_pending.store(false); }

void unlink_pending_output() noexcept {
  if (::getpid() != g_pending_writer.load()) return;  // a forked child's exit or crash: the parent still writes it
  if (g_pending.exchange(false)) ::unlink(g_pending_path);
}

[[noreturn]] void fail_output(const fs::path& path, const std::string& why) {
  throw HostError(ErrorKind::output, "cannot write output '" + path.string() + "': " + why);
}

// A write that failed for want of space or a failing device may succeed later: retryable, not permanent.
[[noreturn]] void fail_write(const fs::path& path, const std::string& why, int error_number) {
  const bool transient = error_number == ENOSPC || error_number == EDQUOT || error_number == EIO;
  throw HostError(transient ? ErrorKind::retryable : ErrorKind::output,
                  "cannot write output '" + path.string() + "': " + why);
}

}  // namespace genplug::host
