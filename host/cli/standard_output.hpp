// Whether what the command printed on stdout got there: for `run --list`, `inspect`, `plugins --json`, `schedule`
// and `posenc`, stdout is the product, and a full disk or a closed descriptor must not end in exit 0.
#pragma once
#include <optional>

#include <genplug/host/errors.hpp>

namespace genplug::cli {

// Flushes stdout; the error to exit with when a write to it failed: 75 (retryable) for a full disk or an I/O error,
// 6 (output) otherwise, e.g. a closed descriptor. None when every write landed, or when stdout is a pipe or socket
// whose reader went away (`genplug run m.json --list | head`: SIGPIPE is ignored, docs/cli.md).
std::optional<host::HostError> standard_output_error();

}  // namespace genplug::cli
