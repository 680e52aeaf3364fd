#include "staged_folder.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <signal.h>
#include <unistd.h>

namespace genplug::mini {

namespace fs = std::filesystem;

namespace {

volatile std::sig_atomic_t held_signal = 0;
extern "C" void hold_signal(int signal) { held_signal = signal; }

// While alive, SIGINT, SIGTERM and SIGHUP are recorded instead of ending the process; the last one recorded is
// raised again (with its old action back) when it goes out of scope.
class HeldSignals {
 public:
  HeldSignals() {
    held_signal = 0;
    struct sigaction hold {};
    hold.sa_handler = hold_signal;
    hold.sa_flags = SA_RESTART;  // a held signal must not fail a rename or copy with EINTR
    sigemptyset(&hold.sa_mask);
    for (std::size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &hold, &old_[i]);
  }
  ~HeldSignals() {
    for (std::size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &old_[i], nullptr);
    // Not while an error unwinds: its message (where the staged files are) is worth more than the exit status.
    if (held_signal != 0 && std::uncaught_exceptions() == 0) std::raise(held_signal);
  }
  HeldSignals(const HeldSignals&) = delete;
  HeldSignals& operator=(const HeldSignals&) = delete;

 private:
  static constexpr std::array<int, 3> kSignals{SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> old_{};
};

bool is_run_record(const fs::path& relative) {
  const std::string name = relative.filename().string();
  return relative.parent_path() == "training" && name.rfind("run-", 0) == 0;
}

// rename() replaces the file in one step. Across filesystems (a folder inside --out that is a link elsewhere) the
// file is copied beside its destination first and renamed there, so that no reader sees half of it.
void move_file(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  std::error_code ec;
  fs::rename(from, to, ec);
  if (!ec) return;
  if (ec != std::errc::cross_device_link) throw fs::filesystem_error("cannot move the file", from, to, ec);
  const fs::path copy = to.parent_path() / (to.filename().string() + ".partial-" + std::to_string(::getpid()));
  fs::copy_file(from, copy, fs::copy_options::overwrite_existing);
  fs::rename(copy, to);
  fs::remove(from);
}

// The folder itself, links resolved: the staging folder goes beside it, on its filesystem.
fs::path normalised(const fs::path& path) {
  fs::path p = fs::weakly_canonical(fs::absolute(path));
  return p.has_filename() ? p : p.parent_path();  // "models/mini/" -> ".../models/mini"
}

}  // namespace

StagedFolder::StagedFolder(const fs::path& target) : target_(normalised(target)) {
  staging_ = target_.parent_path() / (target_.filename().string() + ".partial-" + std::to_string(::getpid()));
  fs::create_directories(target_.parent_path());
  fs::remove_all(staging_);  // a leftover of an earlier process that had this pid
  fs::create_directory(staging_);
}

StagedFolder::~StagedFolder() {
  if (committed_ || moving_) return;  // a commit that failed midway: the staged files are the run's only copy
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void StagedFolder::commit() {
  std::vector<fs::path> files, records;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(staging_)) {
    if (!e.is_regular_file()) continue;
    const fs::path relative = e.path().lexically_relative(staging_);
    (is_run_record(relative) ? records : files).push_back(relative);
  }
  files.insert(files.end(), records.begin(), records.end());
  {
    const HeldSignals held;
    moving_ = true;
    std::size_t moved = 0;
    try {
      fs::create_directories(target_);
      for (const fs::path& relative : files) move_file(staging_ / relative, target_ / relative), ++moved;
    } catch (const std::exception& e) {
      const std::string state = moved == 0 ? " (which is as it was)" : " (which now mixes two runs)";
      throw std::runtime_error(std::string(e.what()) + "; " + std::to_string(moved) + " of " +
                               std::to_string(files.size()) + " files were moved into " + target_.string() + state +
                               "; the rest of this run is in " + staging_.string());
    }
    committed_ = true;
    std::error_code ec;
    fs::remove_all(staging_, ec);  // its empty folders
  }
}

}  // namespace genplug::mini
