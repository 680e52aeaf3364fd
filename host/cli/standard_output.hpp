// Whether what the command printed on stdout got there: for `run --list`, `inspect`, `plugins --json`, `schedule`
// and `posenc`, stdout is the product, and a full disk or a closed descriptor must not end in exit 0.
#pragma once
#include <optional>
#include <ostream>

#include <genplug/host/errors.hpp>

namespace genplug::cli {

// First thing in main: a standard descriptor the caller closed (`>&-`) is opened on a device, so that no file the
// command opens takes its number (stdout's lines would land in it): stdin and stderr on /dev/null, stdout on
// /dev/full, where every write fails and standard_output_error() reports it.
void occupy_closed_standard_descriptors();

// Next: stdout is the command's product (JSON, --progress jsonl), and plugins run in this process: a line a plugin
// prints (printf or std::cout in its init, a debug line) would land in it. Descriptor 1 is pointed at stderr, where
// stdout and std::cout now go, and product() writes to a copy of what stdout was (close-on-exec).
void keep_stdout_for_the_product();

// Where genplug writes its product: the kept stdout (std::cout until keep_stdout_for_the_product()).
std::ostream& product();

// Flushes the product; the error to exit with when a write to it failed: 6 (output) for a stdout the caller closed,
// 75 (retryable) for a file or device that did not take it all (a full disk, an I/O error), 6 for another error.
// None when every write landed, or when stdout is a pipe or socket whose reader went away (`genplug run m.json
// --list | head`: SIGPIPE is ignored, docs/cli.md).
std::optional<host::HostError> standard_output_error();

}  // namespace genplug::cli
