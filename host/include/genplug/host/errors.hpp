// genplug host — error categories. Each category maps to one documented CLI exit code (docs/cli.md).
#pragma once
#include <stdexcept>
#include <string>

namespace genplug::host {

enum class ErrorKind {
  usage = 2,     // bad command line
  manifest = 3,  // the manifest (or an override) is invalid
  plugin = 4,    // a plugin cannot be found, loaded, validated or created
  runtime = 5,   // a plugin call failed while running a job
  output = 6,    // the output cannot be written (exists, unwritable folder, disk)
  cancelled = 130,
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
