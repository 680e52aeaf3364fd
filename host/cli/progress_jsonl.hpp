// genplug CLI — machine-readable progress for farm monitors: one JSON object per line on stdout
// (docs/farm.md). Log lines stay human text on stderr.
#pragma once
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include <genplug/host/pipeline.hpp>

namespace genplug::cli {

class ProgressJsonl {
 public:
  explicit ProgressJsonl(bool quiet) : quiet_(quiet) {}
  // {"event": "start", "items": N, "shard": "I/N"}
  void start(size_t items, const std::string& shard);
  void item_start(const host::Job& job);
  // {"event": "step", "index", "evaluation", "evaluations", "seconds_per_evaluation", "eta_seconds"}
  void update(const host::Progress& p);
  void item_done(const host::Job& job, const host::JobResult& r);  // "item_done" or "skipped"
  // {"event": "error", "exit_code", "message"} and, when it happened in a work item, its "index" and "output".
  // The item is a copy: the job it came from may be gone by the time the error is reported.
  struct Item {
    size_t index = 0;
    std::string output;
  };
  void error(const std::optional<Item>& item, int exit_code, const std::string& message);
  // That event's line, with its line end, for whoever writes it without this object (the cancel grace's handler).
  static std::string error_line(int exit_code, const std::string& message);
  void done(size_t rendered, size_t skipped, double seconds);
  void log(int32_t severity, const std::string& message);  // stderr, as text

 private:
  void emit(const nlohmann::json& event);
  std::mutex mutex_;
  bool quiet_;
  size_t current_ = 0;
  std::string output_;
};

}  // namespace genplug::cli
