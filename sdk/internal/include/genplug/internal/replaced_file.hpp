// Replacing a file atomically: the rules the host's writers (EXR, PNG, `genplug encode`) and the bundled plugins'
// (safetensors, GGUF) share; not installed. A write goes to a temporary file created exclusively beside what it
// replaces and is renamed over it when complete:
// - a symbolic link is written through (the file it names is replaced, the link stays), as the host's checks
//   follow links when they compare outputs and inputs (docs/manifest.md, "Paths");
// - only a regular file is ever replaced: a device node (root may replace /dev/null), a FIFO, a socket or a folder
//   is refused, and so is a link that cannot be followed;
// - the temporary's name is new (pid, counter, random bits) and created with O_EXCL: a file or a link planted at
//   a predictable name is never opened.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <system_error>

namespace genplug::internal {

// The file a write to `target` replaces: a symbolic link followed to the file it names; a link that cannot be
// followed (dangling, a loop, a folder without search permission), or no link, is `target` itself.
inline std::filesystem::path written_path(const std::filesystem::path& target) {
  std::error_code ec;
  if (!std::filesystem::is_symlink(std::filesystem::symlink_status(target, ec))) return target;
  std::filesystem::path followed = std::filesystem::canonical(target, ec);
  return ec ? target : followed;
}

// Why `destination` (a written_path()) may not be replaced, or "" when it may (a regular file, or nothing there).
inline std::string unreplaceable_reason(const std::filesystem::path& destination) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status own = fs::symlink_status(destination, ec);
  if (fs::is_symlink(own))  // written_path() could not follow it
    return "it is a dangling symbolic link, a loop of links, or a link through a folder that cannot be searched: "
           "not replaced";
  if (fs::is_directory(own)) return "it is a folder";
  if (fs::exists(own) && !fs::is_regular_file(own))
    return "it is not a regular file (a device, FIFO or socket): not replaced";
  return "";
}

// A fresh name beside `destination`: ".NAME.tmp-PID-N-RANDOM". NAME is kept only up to 200 bytes, so that the
// name stays within NAME_MAX (255) whenever the destination's does.
inline std::filesystem::path temporary_name_beside(const std::filesystem::path& destination) {
  static std::atomic<unsigned> counter{0};
  static thread_local std::random_device entropy;
  const std::filesystem::path folder = destination.has_parent_path() ? destination.parent_path() : ".";
  const std::string name = destination.filename().string();
  std::ostringstream temporary;
  temporary << '.' << (name.size() <= 200 ? name : "genplug-output") << ".tmp-" << ::getpid() << '-' << counter++
            << '-' << std::hex << entropy();
  return folder / temporary.str();
}

// Creates an empty temporary file beside `destination` exclusively (O_EXCL; another name when one exists) and
// returns its path, closed. Throws std::system_error (the errno of the last attempt) when none can be created.
inline std::filesystem::path create_temporary_beside(const std::filesystem::path& destination) {
  int error = EEXIST;
  for (int attempt = 0; attempt < 100 && error == EEXIST; ++attempt) {
    std::filesystem::path path = temporary_name_beside(destination);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      ::close(fd);
      return path;
    }
    error = errno;
  }
  const std::filesystem::path folder = destination.has_parent_path() ? destination.parent_path() : ".";
  throw std::system_error(error, std::generic_category(), "cannot create a temporary file in '" + folder.string() + "'");
}

}  // namespace genplug::internal
