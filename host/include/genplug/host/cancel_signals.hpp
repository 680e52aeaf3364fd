// genplug host — SIGINT and SIGTERM as cancellation, for programs that render (`genplug run`).
//
// The first signal sets the caller's cancel flag: the pipeline stops at its next model evaluation or output chunk
// and writes nothing partial. The handlers are installed without SA_RESTART, so that first signal also ends a
// system call blocked on a FIFO or a slow device with EINTR: a read that would wait for ever fails instead, and
// cancel_signal() tells the caller to report that failure as the cancellation it is. A second signal does not
// wait: it removes the temporary output being written (unlink_pending_output) and exits with 128 + signal. The
// first one again within 0.25 s is no second signal: GNU timeout sends it to the process and then to its process
// group, or passes on what its group got, and that one time-out had ended runs without their error line.
// A plugin call that does not come back to look at the flag (one stuck in a library's loop) would make the first
// signal wait for ever: `grace` after it, the process ends as at a second signal, saying so on stderr.
#pragma once

#include <atomic>
#include <chrono>

namespace genplug::host {

// How long after the first signal the process waits for the pipeline to stop before it ends without it: longer than
// a step between two cancellation checks takes (one FLUX block at 16 MP on two cores: a few seconds), shorter than
// the time a farm gives before SIGKILL (Slurm's KillWait: 30 s).
inline constexpr std::chrono::seconds kCancelGrace{10};

// Installs the handlers of SIGINT and SIGTERM. `cancel` is set by the first signal and must outlive the process;
// `grace` (0: none, wait however long) as above. Thread: the main thread, before it starts others (they inherit
// no mask; the kernel delivers to the main thread).
void install_cancel_signals(std::atomic<bool>& cancel, std::chrono::seconds grace = kCancelGrace);

// The first signal that came (SIGINT or SIGTERM), 0 while none has. Async-signal-safe; any thread.
int cancel_signal() noexcept;

// For commands that do not stop part-way (`genplug encode`): SIGINT and SIGTERM remove the temporary output being
// written, if any, and exit at once with 128 + signal. Thread: the main thread, before it starts others.
void install_exit_signals();

}  // namespace genplug::host
