// A run's outputs are written into a staging folder beside the target (same filesystem, so each move is a
// rename) and replace the target's files only once the whole run succeeded: an interrupted or failed run leaves
// the target as it was (docs/mini-model.md §6). --out defaults to the shipped model, so a half-written run
// there would mix weights of two seeds.
#pragma once
#include <filesystem>

namespace genplug::mini {

class StagedFolder {
 public:
  // Creates <parent>/<name>.partial-<pid> beside `target` (which need not exist yet).
  explicit StagedFolder(const std::filesystem::path& target);
  // Removes the staging folder unless commit() ran (an exception's path; a signal leaves it, and the target).
  ~StagedFolder();
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;

  const std::filesystem::path& path() const { return staging_; }
  const std::filesystem::path& target() const { return target_; }

  // Moves every file of the staging folder to the same place under the target (replacing a file there; the
  // target's other files stay), the run records (training/run-*.json) last, then removes the staging folder.
  // SIGINT, SIGTERM and SIGHUP are held while the files move and delivered after. A move that fails throws,
  // saying how many files moved, and keeps the staging folder (the rest of the run).
  void commit();

 private:
  std::filesystem::path target_, staging_;
  bool committed_ = false, moving_ = false;
};

}  // namespace genplug::mini
