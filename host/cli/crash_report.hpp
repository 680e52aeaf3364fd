// A crash named: which library a fatal signal came from, instead of a bare "Segmentation fault". Plugins run in
// genplug's process, so a plugin that crashes takes genplug down; this says which one did.
#pragma once

#include <signal.h>

namespace genplug::cli {

// Installs the report on SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT (process-wide, before any plugin loads), and
// an alternate signal stack for the calling thread, so that a stack overflow on it is reported too. On a fatal
// signal it removes the output being written and writes what crashed to stderr: the signal and where it struck
// first, then the libraries on the crashing thread's stack (innermost first), then the first of them that is
// neither a runtime (C, C++, allocator) nor genplug's (the executable and the libraries it was linked with), named
// as the culprit (genplug when there is none, unknown when the stack could not be read). A signal sent by another
// process is said to be one; a crash in a process a plugin forked is left to that process. Then the process ends
// by the same signal, within 10 s whatever the report meets (its own timer, on signal SIGRTMAX-3), so its exit
// status (139, 134, ...) and any core dump stay as they were. Not for `validate`'s probes, which report a crash
// themselves, nor under a sanitizer, whose own report says more; nothing before glibc 2.35 (_dl_find_object,
// which the report needs: dladdr waits for the dynamic loader's lock).
void install_crash_report();

// Whether a thread has begun a crash report: another handler (mapped_file_fault.cpp) then leaves the process's end
// to it.
bool crash_report_claimed();

// The report for a fatal signal another handler declined (mapped_file_fault.cpp passes on a SIGBUS that no mapped
// file raised). Ends the process by `signal`; without install_crash_report(), with no report.
void report_crash(int signal, siginfo_t* info, void* context);

}  // namespace genplug::cli
