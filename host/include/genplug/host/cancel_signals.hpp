// genplug host — SIGINT and SIGTERM as cancellation, for programs that render (`genplug run`).
//
// The first signal sets the caller's cancel flag: the pipeline stops at its next model evaluation or output chunk
// and writes nothing partial. The handlers are installed without SA_RESTART, so that first signal also ends a
// system call blocked on a FIFO or a slow device with EINTR: a read that would wait for ever fails instead, and
// cancel_signal() tells the caller to report that failure as the cancellation it is. A second signal does not
// wait: it removes the temporary output being written (unlink_pending_output) and exits with 128 + signal. The
// first one again within 0.25 s is no second signal: GNU timeout sends it to the process and then to its process
// group, or passes on what its group got, and that one time-out had ended runs without their error line.
// A plugin call that does not come back to look at the flag (one stuck in a library's loop, or an evaluation that
// takes minutes between two looks) would make the first signal wait as long: `grace` after it, the process ends as
// at a second signal, saying so on stderr, unless the caller has come back (disarm_cancel_grace).
#pragma once

#include <atomic>
#include <chrono>
#include <string>

namespace genplug::host {

// How long after the first signal the process waits for the pipeline to stop before it ends without it: shorter than
// the time before the SIGKILL that follows a SIGTERM (docker stop: 10 s; Slurm's KillWait: 30 s), so that the end is
// genplug's (no temporary file left). The FLUX plugin looks between its blocks, which takes a fraction of a second
// at the mini model's sizes but one FLUX.1 block at 1024 x 1024 is ~1.3 TFLOP, ~8 s on two cores: there the grace
// often ends a cancelled render, the same end with its own line (and event, set_cancel_grace_lines).
inline constexpr std::chrono::seconds kCancelGrace{8};

// Installs the handlers of SIGINT and SIGTERM. `cancel` is set by the first signal and must outlive the process;
// `grace` (0: none, wait however long) as above. Thread: the main thread, before it starts others (they inherit
// no mask; the kernel delivers to the main thread).
void install_cancel_signals(std::atomic<bool>& cancel, std::chrono::seconds grace = kCancelGrace);

// The first signal that came (SIGINT or SIGTERM), 0 while none has. Async-signal-safe; any thread.
int cancel_signal() noexcept;

// Whether that first signal came from this process itself (raise, kill(getpid())): a library giving up, as OpenBLAS
// raises SIGINT when it cannot start its threads, not a request to cancel. It cancels all the same (the library
// expected the process to end), and a process that ends without waiting then exits 4, as for a plugin's failure.
bool cancel_signal_from_self() noexcept;

// What the grace says as it ends the process, without "genplug: " and the line end. Empty before
// install_cancel_signals.
std::string cancel_grace_text();
// What is said of a signal the process sent itself (cancel_signal_from_self), likewise.
std::string library_signal_text();

// Lines (each with its line end, 1 KiB at most) the grace also writes to standard output as it ends the process, by
// the first signal: SIGINT's, SIGTERM's, a library's own. `genplug run --progress jsonl` gives its final "error"
// event so. Thread: the main thread, before a signal can come.
void set_cancel_grace_lines(const std::string& interrupted, const std::string& terminated,
                            const std::string& library_signal);

// The caller has come back from the call the signal found running and is ending on its own: no grace to enforce
// (a slow clean-up, a crash report, is not cut short). Async-signal-safe; any thread.
void disarm_cancel_grace() noexcept;

// For commands that do not stop part-way (`genplug encode`, `validate`): SIGINT and SIGTERM remove the temporary
// output being written, if any, and exit at once with 128 + signal and a line ("cancelled (SIGINT)"; 4, with
// another, for one the process sent itself). Thread: the main thread, before it starts others.
void install_exit_signals();

}  // namespace genplug::host
