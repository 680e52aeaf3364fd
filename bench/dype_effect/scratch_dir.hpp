// A scratch folder of a run's own inside its output folder, for the EXRs the pipeline writes (each deleted as soon as
// its picture is back): made with mkdtemp, so runs sharing the output folder and the user's own files there are
// never touched, and removed with whatever is left when it goes out of scope, also by an exception.
#pragma once
#include <stdlib.h>  // mkdtemp

#include <filesystem>
#include <stdexcept>
#include <string>

namespace genplug::dype_effect {

class ScratchDir {
 public:
  // A new folder out/<prefix>XXXXXX (out is created if missing).
  ScratchDir(const std::filesystem::path& out, const std::string& prefix) {
    std::filesystem::create_directories(out);
    std::string pattern = (out / (prefix + "XXXXXX")).string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("cannot create a scratch folder in " + out.string());
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace genplug::dype_effect
