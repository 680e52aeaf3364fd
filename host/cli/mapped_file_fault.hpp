// A memory-mapped file cut short under a render: said, and a retryable exit, instead of "Bus error".
#pragma once

namespace genplug::cli {

// Installs the SIGBUS handler (process-wide; `run`, `inspect` and `encode` call it before any plugin maps a file).
// Model and inspector plugins map weights files and read them in place; a file copied onto (truncated, then rewritten)
// while a render reads it, or an I/O error on its disk, raises SIGBUS at the next touch of a page that is gone (si_code
// BUS_ADRERR or BUS_OBJERR). The handler removes the output being written, writes one line and exits 75: the file is
// usually whole again by the next attempt. Any other SIGBUS (kill -BUS, a misaligned access), or one while a crash
// report runs, is a crash (crash_report.hpp). Not for `validate`'s probes, which report a plugin's own SIGBUS as a
// crash.
void install_mapped_file_fault_handler();

}  // namespace genplug::cli
