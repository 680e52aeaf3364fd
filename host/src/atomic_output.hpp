// genplug host — files written atomically: created exclusively beside what they replace, renamed into place only
// when complete, removed on every error (and by unlink_pending_output() from a signal handler). Used by the EXR
// and PNG writers and `genplug encode`; the rules (links written through, only regular files replaced) are
// genplug/internal/replaced_file.hpp's, shared with the plugins' writers.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include <genplug/internal/replaced_file.hpp>

namespace genplug::host {

// HostError(ErrorKind::output, "cannot write output 'PATH': WHY").
[[noreturn]] void fail_output(const std::filesystem::path& path, const std::string& why);
// The same, but retryable when the error number says the disk is full or failing (ENOSPC, EDQUOT, EIO).
[[noreturn]] void fail_write(const std::filesystem::path& path, const std::string& why, int error_number);

// The temporary file being written, remembered for unlink_pending_output() (exr_writer.hpp); one at a time.
void set_pending_output(const std::filesystem::path& path) noexcept;
void clear_pending_output() noexcept;

namespace fs = std::filesystem;

// The file a write to `target` replaces ("latest.exr -> v003.exr" rewrites v003.exr; the link stays).
using internal::written_path;

// A file created exclusively beside what a write to `target` replaces (written_path); removed on destruction
// unless committed. Messages name `target` as the caller wrote it.
class TemporaryFile {
 public:
  explicit TemporaryFile(const fs::path& target) : target_(target), destination_(written_path(target)) {
    if (const std::string why = internal::unreplaceable_reason(destination_); !why.empty()) fail_output(target, why);
    const fs::path folder = destination_.has_parent_path() ? destination_.parent_path() : fs::path(".");
    int error = EEXIST;
    for (int attempt = 0; attempt < 100 && error == EEXIST; ++attempt) {
      path_ = internal::temporary_name_beside(destination_);
      // Remembered before it exists, so that no instant holds the file unremembered (a second signal then
      // unlinks a name that is not there yet, which is harmless; the name holds our pid and random bits).
      set_pending_output(path_);
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ >= 0) {
        keep_replaced_mode();
        return;
      }
      error = errno;
      clear_pending_output();
    }
    path_.clear();
    std::error_code ec;  // ENOENT in a folder that exists: a file system that creates nothing, such as /proc
    if (error == ENOENT && !fs::is_directory(folder, ec))
      fail_output(target, "folder '" + folder.string() + "' does not exist");
    if (error == ENOTDIR) fail_output(target, "'" + folder.string() + "' is not a folder");
    if (error == EACCES || error == EPERM || error == EROFS)
      fail_output(target, "folder '" + folder.string() + "' is not writable (" + std::strerror(error) + ")");
    fail_output(target, std::string("cannot create a temporary file in '") + folder.string() + "': " +
                            std::strerror(error));
  }

  ~TemporaryFile() {
    close_quietly();
    if (!path_.empty()) ::unlink(path_.c_str());
    clear_pending_output();  // only once it is gone: a second signal before that still removes it
  }

  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;

  int fd() const { return fd_; }
  const fs::path& path() const { return path_; }

  // Flushes to disk and closes; the data must be durable before the rename makes it visible.
  void sync_and_close() {
    if (::fsync(fd_) != 0) fail_write(target_, std::string("fsync failed: ") + std::strerror(errno), errno);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail_write(target_, std::string("close failed: ") + std::strerror(errno), errno);
  }

  // Renames over the destination (only if it does not exist unless overwrite); the temporary is then gone.
  void commit(bool overwrite) {
    rename_into_place(overwrite);  // on failure the destructor removes the temporary
    clear_pending_output();        // only now: a second signal before the rename still removes it; after it, the
    path_.clear();                 // remembered name no longer exists and the finished target is never touched
    sync_folder();
  }

 private:
  // A file written over keeps its permission bits (a shot made group-readable only stays so), as `sed -i` does;
  // a new one gets 0666 less the umask. Best effort: the owner is the writer's either way.
  void keep_replaced_mode() const {
    struct stat replaced {};
    if (::stat(destination_.c_str(), &replaced) == 0 && S_ISREG(replaced.st_mode))
      ::fchmod(fd_, replaced.st_mode & 0777);
  }

  void rename_into_place(bool overwrite) {
    if (!overwrite) {
#ifdef RENAME_NOREPLACE
      if (::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, destination_.c_str(), RENAME_NOREPLACE) == 0) return;
      if (errno == EEXIST) fail_output(target_, "the file already exists (overwrite not requested)");
      if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        fail_output(target_, std::string("rename failed: ") + std::strerror(errno));
#endif
      // No atomic no-replace rename on this system or file system: check, then rename.
      std::error_code ec;
      if (fs::exists(fs::symlink_status(destination_, ec)))
        fail_output(target_, "the file already exists (overwrite not requested)");
    }
    if (std::rename(path_.c_str(), destination_.c_str()) != 0)
      fail_output(target_, std::string("rename failed: ") + std::strerror(errno));
  }

  void sync_folder() const {  // best effort: makes the rename itself durable
    const fs::path folder = destination_.has_parent_path() ? destination_.parent_path() : fs::path(".");
    const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
  }

  void close_quietly() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  fs::path target_;       // as the caller named it, for messages
  fs::path destination_;  // what the rename replaces
  fs::path path_;
  int fd_ = -1;
};


}  // namespace genplug::host
