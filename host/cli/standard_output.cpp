#include "standard_output.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

namespace genplug::cli {

std::optional<host::HostError> standard_output_error() {
  std::cout.flush();  // into stdout's buffer (cout is synchronised with stdio); a stream already failed skips it
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0 && std::cout.good();
  // errno from this flush when it failed; 0 when only an earlier write failed (glibc drops what it could not
  // write, and errno has moved on since), which on a file or a device is a full disk or an I/O error.
  const int error = flushed ? 0 : errno;
  if (flushed && !std::ferror(stdout)) return std::nullopt;
  struct stat s {};
  if (::fstat(STDOUT_FILENO, &s) != 0)
    return host::HostError(host::ErrorKind::output, "standard output is closed: what this command prints was lost");
  if ((S_ISFIFO(s.st_mode) || S_ISSOCK(s.st_mode)) && (error == 0 || error == EPIPE)) return std::nullopt;
  const bool transient = error == 0 || error == ENOSPC || error == EDQUOT || error == EIO;
  return host::HostError(transient ? host::ErrorKind::retryable : host::ErrorKind::output,
                         std::string("cannot write to standard output: ") +
                             (error ? std::strerror(error) : "what this command printed was not all written (a full "
                                                             "disk or an I/O error)"));
}

}  // namespace genplug::cli
