// genplug CLI — progress for long runs: a redrawn bar on a terminal, plain log lines otherwise.
#pragma once
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include <genplug/host/pipeline.hpp>

namespace genplug::cli {

class ProgressDisplay {
 public:
  ProgressDisplay(bool quiet, bool terminal) : quiet_(quiet), terminal_(terminal) {}
  ~ProgressDisplay();
  void update(const host::Progress& p);
  void log(int32_t severity, const std::string& message);
  // `position` of `count`: the job's place among those this run renders (a shard's), as the progress lines say.
  void job_done(size_t position, size_t count, const host::Job& job, const host::JobResult& r);

 private:
  void clear_line();
  std::mutex mutex_;  // plugin log lines may come from any thread
  bool quiet_, terminal_;
  bool bar_shown_ = false;
  std::string last_stage_;
  std::chrono::steady_clock::time_point last_line_{};
};

}  // namespace genplug::cli
