// A memory-mapped file cut short under the process: said, and a retryable exit, instead of "Bus error".
#pragma once

namespace genplug::cli {

// Installs the SIGBUS handler (process-wide; call once, before any plugin maps a file). Model plugins map weights
// files and read them in place; a file copied onto (truncated, then rewritten) while a render reads it, or an I/O
// error on its disk, raises SIGBUS at the next touch of a page that is gone. The handler writes one line and exits
// 75: the file is usually whole again by the next attempt. It runs on the faulting thread, and only write(2) and
// _exit(2), which are async-signal-safe.
void install_mapped_file_fault_handler();

}  // namespace genplug::cli
