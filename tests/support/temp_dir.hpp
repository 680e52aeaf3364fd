// Test support: a fresh, empty folder under the system temp dir, removed with everything in it at scope exit.
#pragma once
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

namespace genplug::test {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& label = "test") {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           ("genplug-" + label + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace genplug::test
