// genplug host — error categories. Each category maps to one documented CLI exit code (docs/cli.md). For a
// farm wrapper: usage, manifest, plugin, runtime and output are permanent (running again fails again);
// retryable and the two signals are worth another attempt.
#pragma once
#include <stdexcept>
#include <string>

namespace genplug::host {

enum class ErrorKind {
  usage = 2,     // bad command line
  manifest = 3,  // the manifest (or an override) is invalid
  plugin = 4,    // a plugin cannot be found, loaded, validated or created
  runtime = 5,   // a plugin call failed while running a job
  output = 6,    // the output cannot be written (exists, unwritable folder)
  retryable = 75,    // a transient failure: out of memory, disk full or an I/O error while writing (EX_TEMPFAIL)
  cancelled = 130,   // SIGINT (Ctrl-C)
  terminated = 143,  // SIGTERM (what Slurm sends on time-out and pre-emption)
};

class HostError : public std::runtime_error {
 public:
  HostError(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }
  int exit_code() const noexcept { return static_cast<int>(kind_); }

 private:
  ErrorKind kind_;
};

}  // namespace genplug::host
