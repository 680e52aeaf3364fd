#include "progress_jsonl.hpp"

#include <iostream>

#include <genplug/genplug.h>

#include "standard_output.hpp"

namespace genplug::cli {

void ProgressJsonl::emit(const nlohmann::json& event) {
  // One line each, flushed: a monitor tailing the stream sees every event as it happens. Invalid UTF-8 in
  // a path or message is replaced rather than thrown.
  product() << event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n" << std::flush;
}

void ProgressJsonl::start(size_t items, const std::string& shard) {
  std::lock_guard<std::mutex> lock(mutex_);
  emit({{"event", "start"}, {"items", items}, {"shard", shard}});
}

void ProgressJsonl::item_start(const host::Job& job) {
  std::lock_guard<std::mutex> lock(mutex_);
  current_ = job.index;
  output_ = job.output.string();
  emit({{"event", "item_start"}, {"index", job.index}, {"job", job.job}, {"output", output_}});
}

void ProgressJsonl::update(const host::Progress& p) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!p.step || p.evaluations == 0) return;  // a stage's start is no step
  const uint64_t left = p.evaluations > p.evaluation ? p.evaluations - p.evaluation : 0;
  emit({{"event", "step"},
        {"index", current_},
        {"output", output_},
        {"evaluation", p.evaluation},
        {"evaluations", p.evaluations},
        {"seconds_per_evaluation", p.seconds_per_evaluation},
        {"eta_seconds", p.seconds_per_evaluation * double(left)}});
}

void ProgressJsonl::item_done(const host::Job& job, const host::JobResult& r) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (r.skipped) {
    emit({{"event", "skipped"}, {"index", job.index}, {"output", job.output.string()}, {"reason", "up to date"}});
    return;
  }
  emit({{"event", "item_done"},
        {"index", job.index},
        {"output", r.output.string()},
        {"evaluations", r.evaluations},
        {"seconds", r.seconds}});
}

void ProgressJsonl::error(const std::optional<Item>& item, int exit_code, const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  nlohmann::json e = {{"event", "error"}, {"exit_code", exit_code}, {"message", message}};
  if (item) e["index"] = item->index, e["output"] = item->output;
  emit(e);
}

std::string ProgressJsonl::error_line(int exit_code, const std::string& message) {
  const nlohmann::json e = {{"event", "error"}, {"exit_code", exit_code}, {"message", message}};
  return e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void ProgressJsonl::done(size_t rendered, size_t skipped, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  emit({{"event", "done"}, {"rendered", rendered}, {"skipped", skipped}, {"seconds", seconds}});
}

void ProgressJsonl::log(int32_t severity, const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (severity < GENPLUG_LOG_INFO || (quiet_ && severity < GENPLUG_LOG_ERROR)) return;
  const char* tag = severity >= GENPLUG_LOG_ERROR ? "error: " : severity >= GENPLUG_LOG_WARNING ? "warning: " : "";
  std::cerr << "genplug: " << tag << message << "\n";
}

}  // namespace genplug::cli
