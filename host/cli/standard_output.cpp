#include "standard_output.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include <ext/stdio_sync_filebuf.h>

namespace genplug::cli {
namespace {

bool g_stdout_was_closed = false;
FILE* g_product_file = stdout;       // the product's stdio stream: a copy of the original stdout once kept
std::ostream* g_product = &std::cout;  // genplug's writes of its product

// Opens `device` on descriptor `fd` when the caller left it closed.
bool occupy_if_closed(int fd, const char* device, int flags) {
  if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) return false;
  const int opened = ::open(device, flags);  // the lowest free number: `fd`, when the ones below it are open
  if (opened >= 0 && opened != fd) {
    ::dup2(opened, fd);
    ::close(opened);
  }
  return true;
}

// For a pipe or socket: whether its reader has gone away (the kernel reports an error condition on the write end).
bool reader_gone(int fd) {
  pollfd p{fd, POLLOUT, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)) != 0;
}

}  // namespace

void occupy_closed_standard_descriptors() {
  occupy_if_closed(STDIN_FILENO, "/dev/null", O_RDONLY);
  g_stdout_was_closed = occupy_if_closed(STDOUT_FILENO, "/dev/full", O_WRONLY);
  occupy_if_closed(STDERR_FILENO, "/dev/null", O_WRONLY);
}

void keep_stdout_for_the_product() {
  const int fd = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
  FILE* file = fd >= 0 ? ::fdopen(fd, "w") : nullptr;
  if (!file || ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {  // as before: the product on descriptor 1
    if (file) std::fclose(file);
    else if (fd >= 0) ::close(fd);
    return;
  }
  // What plugins print with printf comes out line by line, in order with genplug's own lines on stderr.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  // Through stdio, whose FILE is locked per call: a plugin's thread writing std::cout (stderr now) races nothing.
  // Never destroyed: the product is flushed at exit after every static object is gone.
  static auto* buffer = new __gnu_cxx::stdio_sync_filebuf<char>(file);
  static auto* stream = new std::ostream(buffer);
  g_product_file = file;
  g_product = stream;
}

std::ostream& product() { return *g_product; }

std::optional<host::HostError> standard_output_error() {
  errno = 0;
  // A stream already failed skips the flush (its error state stays); otherwise errno is this flush's.
  const bool flushed = g_product->flush().good() && std::fflush(g_product_file) == 0;
  // errno from this flush when it failed; 0 when only an earlier write failed (stdio drops what it could not
  // write, and errno has moved on since), which on a file or a device is a full disk or an I/O error.
  const int error = flushed ? 0 : errno;
  if (flushed && !std::ferror(g_product_file)) return std::nullopt;
  if (g_stdout_was_closed)
    return host::HostError(host::ErrorKind::output, "standard output is closed: what this command prints was lost");
  struct stat s {};
  const int fd = ::fileno(g_product_file);
  const bool stream = ::fstat(fd, &s) == 0 && (S_ISFIFO(s.st_mode) || S_ISSOCK(s.st_mode));
  if (stream && (error == EPIPE || (error == 0 && reader_gone(fd)))) return std::nullopt;
  const bool transient = error == 0 || error == ENOSPC || error == EDQUOT || error == EIO;
  return host::HostError(transient ? host::ErrorKind::retryable : host::ErrorKind::output,
                         std::string("cannot write to standard output: ") +
                             (error ? std::strerror(error) : "what this command printed was not all written (a full "
                                                             "disk or an I/O error)"));
}

}  // namespace genplug::cli
