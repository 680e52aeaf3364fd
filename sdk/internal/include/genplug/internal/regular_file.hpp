// Reading a small file a user names, without blocking and with its size bounded — shared by the host and the
// bundled plugins; not installed.
//
// Why: open() of a FIFO blocks until a writer comes (issue 15, case 4: a FIFO given as a sharded checkpoint's
// index, as the plugin cache or as `--config @FILE` hung the CLI), and /dev/zero never ends. The file is opened
// with O_NONBLOCK, so a FIFO opens at once and is then refused by fstat; a regular file is read up to a bound.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace genplug::internal {

// strerror(error), and for a process out of file descriptors the limit it reached (a file the process cannot open
// then is no fault of the file's, nor of whatever named it).
inline std::string open_error_text(int error) {
  std::string text = std::strerror(error);
  struct rlimit limit {};
  if (error == EMFILE && ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    text += " (ulimit -n is " + std::to_string(limit.rlim_cur) + ")";
  return text;
}

// Why a file could not be read, without its path ("does not exist", "is not a regular file (a folder)", ...):
// callers put the file and the field that named it in front.
class UnreadableFile : public std::runtime_error {
 public:
  // Whose fault: the file's (or whatever named it); the process's descriptor limit (ulimit -n: running again fails
  // again); the system running short of open files or memory (another attempt may pass).
  enum class Cause { file, descriptor_limit, shortage };

  explicit UnreadableFile(const std::string& why, int error = 0) : std::runtime_error(why), error_(error) {}
  Cause cause() const {
    if (error_ == EMFILE) return Cause::descriptor_limit;
    return error_ == ENFILE || error_ == ENOMEM ? Cause::shortage : Cause::file;
  }

 private:
  int error_;
};

// Up to `max_bytes` from the open descriptor `fd`, fewer where it ends first (a file that shrank while read, a pipe
// closed); throws UnreadableFile on a read error.
inline std::string read_up_to(int fd, std::size_t max_bytes) {
  std::string bytes(max_bytes, '\0');
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    const int error = errno;
    if (n < 0 && error == EINTR) continue;
    if (n < 0) throw UnreadableFile(std::string("cannot be read: ") + std::strerror(error), error);
    if (n == 0) break;
    done += std::size_t(n);
  }
  bytes.resize(done);
  return bytes;
}

// "does not exist" for a path that names nothing, and for a symbolic link whose target is missing, the target too
// (beside a link `ls` shows, "does not exist" reads as wrong): the end of a chain of links, a relative target
// taken from its link's folder as the kernel takes it (through links in that folder's path too).
inline std::string missing_file_text(const std::filesystem::path& path) {
  std::filesystem::path at = path;
  bool link = false;
  for (int hops = 0; hops < 40; ++hops) {  // the kernel's own bound on a chain (ELOOP)
    std::error_code ec;
    const std::filesystem::path target = std::filesystem::read_symlink(at, ec);
    if (ec) break;
    link = true;
    const std::filesystem::path folder = at.parent_path();
    std::error_code unresolved;
    const std::filesystem::path real = folder.empty() ? folder : std::filesystem::weakly_canonical(folder, unresolved);
    at = target.is_absolute() ? target : (unresolved ? folder : real) / target;
  }
  return link ? "is a symbolic link to '" + at.string() + "', which does not exist" : "does not exist";
}

// The bytes of the regular file at `path`, of at most `max_bytes`; throws UnreadableFile otherwise.
inline std::string read_regular_file(const std::filesystem::path& path, std::uintmax_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int error = errno;
    throw UnreadableFile(error == ENOENT ? missing_file_text(path) : "cannot be opened: " + open_error_text(error),
                         error);
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    throw UnreadableFile(std::string("cannot be examined: ") + std::strerror(error), error);
  }
  if (S_ISDIR(st.st_mode)) throw UnreadableFile("is not a regular file (a folder)");
  if (!S_ISREG(st.st_mode)) throw UnreadableFile("is not a regular file (a device, pipe or socket)");
  if (std::uintmax_t(st.st_size) > max_bytes)
    throw UnreadableFile("is larger than " + std::to_string(max_bytes) + " bytes");
  return read_up_to(fd, std::size_t(st.st_size));  // one that shrank while being read: what is there
}

}  // namespace genplug::internal
