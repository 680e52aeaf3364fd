// Helpers shared by the libFuzzer targets (fuzz/README.md): an in-memory file for parsers that take a path,
// a scratch folder, and the few environment switches the targets read.
#pragma once
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>

namespace genplug::fuzz {

[[noreturn]] inline void die(const std::string& what) {
  std::fprintf(stderr, "fuzz setup: %s\n", what.c_str());
  std::abort();
}

// A memfd rewritten for every input. path() ("/proc/self/fd/N") opens, stats and maps like a regular file, so
// the code under test reads it through its ordinary path-taking entry point, with no disk I/O.
class MemFile {
 public:
  explicit MemFile(const char* name) {
    fd_ = memfd_create(name, MFD_CLOEXEC);
    if (fd_ < 0) die("memfd_create failed");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  void write(const uint8_t* data, std::size_t size) {
    if (ftruncate(fd_, 0) != 0) die("ftruncate failed");
    for (std::size_t done = 0; done < size;) {
      const ssize_t n = pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) die("pwrite failed");
      done += static_cast<std::size_t>(n);
    }
  }
  void write(std::string_view text) { write(reinterpret_cast<const uint8_t*>(text.data()), text.size()); }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// A private folder under $TMPDIR for the process (removed at exit), for parsers that look at file names or
// neighbouring files: link() gives the MemFile a name there.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "genplug-fuzz-XXXXXX").string();
    if (!mkdtemp(pattern.data())) die("mkdtemp failed");
    dir_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::filesystem::path& path() const { return dir_; }
  std::filesystem::path link(const std::string& name, const MemFile& target) const {
    const std::filesystem::path p = dir_ / name;
    std::error_code ec;
    std::filesystem::create_symlink(target.path(), p, ec);
    if (ec) die("symlink " + p.string() + ": " + ec.message());
    return p;
  }

 private:
  std::filesystem::path dir_;
};

// GENPLUG_FUZZ_STRICT=1: also abort on property violations that are findings to report rather than memory
// errors (a config the plugin accepts but its own schema refuses, non-finite spectra, ...). Off by default,
// so CI fails only on crashes, sanitizer reports, leaks, hangs and assertion failures.
inline bool strict() {
  static const bool on = [] {
    const char* v = std::getenv("GENPLUG_FUZZ_STRICT");
    return v && *v && std::string_view(v) != "0";
  }();
  return on;
}

// A finding that is not a memory error: `what` says which property failed. With GENPLUG_FUZZ_NOTES=DIR each new
// kind (the message with digits dropped, first 100 characters) is saved once as DIR/<target>-<n>.txt (message)
// and DIR/<target>-<n>.input (the input), and fuzzing goes on; with GENPLUG_FUZZ_STRICT=1 the target aborts.
inline void finding(const char* target, const std::string& what, const uint8_t* data, std::size_t size) {
  if (const char* dir = std::getenv("GENPLUG_FUZZ_NOTES"); dir && *dir) {
    static std::set<std::string> seen;
    std::string kind;
    for (char c : what.substr(0, 100))
      if (c < '0' || c > '9') kind += c;
    if (seen.insert(kind).second) {
      const std::string base = std::string(dir) + "/" + target + "-" + std::to_string(seen.size()) + "-" +
                               std::to_string(::getpid());
      if (FILE* f = std::fopen((base + ".txt").c_str(), "w")) {
        std::fprintf(f, "%s\n", what.c_str());
        std::fclose(f);
      }
      if (FILE* f = std::fopen((base + ".input").c_str(), "wb")) {
        if (size) std::fwrite(data, 1, size, f);
        std::fclose(f);
      }
      std::fprintf(stderr, "NOTE %s: %s\n", target, what.c_str());
    }
  }
  if (!strict()) return;
  std::fprintf(stderr, "GENPLUG_FUZZ_STRICT: %s: %s\n", target, what.c_str());
  std::abort();
}

// A path from the environment, or `fallback` (a compiled-in path) when the variable is unset or empty.
inline std::filesystem::path env_path(const char* variable, const std::filesystem::path& fallback) {
  const char* v = std::getenv(variable);
  return v && *v ? std::filesystem::path(v) : fallback;
}

}  // namespace genplug::fuzz
