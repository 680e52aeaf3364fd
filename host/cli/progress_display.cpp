#include <genplug/host/printable.hpp>
#include "progress_display.hpp"
#include "message_text.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>

#include <genplug/genplug.h>

namespace genplug::cli {

namespace {
std::string seconds_text(double s) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(s < 10 ? 2 : 0);
  o << s << "s";
  return o.str();
}
}  // namespace

ProgressDisplay::~ProgressDisplay() { clear_line(); }

void ProgressDisplay::clear_line() {
  if (bar_shown_) {
    std::cerr << "\r\033[2K" << std::flush;
    bar_shown_ = false;
  }
}

void ProgressDisplay::update(const host::Progress& p) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (quiet_) return;
  const std::string job = "job " + std::to_string(p.job_index + 1) + "/" + std::to_string(p.job_count);
  if (p.stage != "sample" || p.evaluations == 0 || p.evaluation == 0) {
    if (p.stage == last_stage_) return;
    last_stage_ = p.stage;
    clear_line();
    if (p.stage == "load")
      std::cerr << "genplug: loading plugins and model\n";
    else
      std::cerr << "genplug: " << job << " (" << host::printable(p.job_name) << "): " << p.stage << "\n";
    return;
  }
  last_stage_ = p.stage;
  const uint64_t done = std::min(p.evaluation, p.evaluations);  // a scheduler may miscount; never overflow the bar
  const double eta = p.seconds_per_evaluation * double(p.evaluations - done);
  std::ostringstream line;
  line << job << " eval " << p.evaluation << "/" << p.evaluations << " " << seconds_text(p.seconds_per_evaluation)
       << "/it ETA " << seconds_text(eta);
  if (terminal_) {
    const int width = 24;
    const int filled = int(width * double(done) / double(p.evaluations));
    std::cerr << "\r\033[2K[" << std::string(filled, '#') << std::string(width - filled, ' ') << "] " << line.str()
              << std::flush;
    bar_shown_ = true;
  } else {
    // Plain lines: one per evaluation is fine for logs (a few dozen per job).
    std::cerr << "genplug: " << line.str() << "\n";
  }
}

void ProgressDisplay::log(int32_t severity, const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (quiet_ && severity < GENPLUG_LOG_ERROR) return;
  if (severity < GENPLUG_LOG_INFO) return;
  clear_line();
  const char* tag = severity >= GENPLUG_LOG_ERROR ? "error: " : severity >= GENPLUG_LOG_WARNING ? "warning: " : "";
  std::cerr << "genplug: " << tag << host::printable(message) << "\n";
}

void ProgressDisplay::job_done(size_t position, size_t count, const host::Job& job, const host::JobResult& r) {
  std::lock_guard<std::mutex> lock(mutex_);
  clear_line();
  last_stage_.clear();
  if (quiet_) return;
  const std::string which = "genplug: job " + std::to_string(position + 1) + "/" + std::to_string(count);
  if (r.skipped) {
    std::cerr << which << " skipped: " << host::printable(job.output.string())
              << " is up to date (rendered from the same work item; --force renders it again)\n";
    return;
  }
  std::cerr << which << " wrote " << host::printable(r.output.string()) << " (" << r.width << "x" << r.height << ", "
            << host::counted(r.steps, "step") << ", " << host::counted(r.evaluations, "evaluation") << ", "
            << seconds_text(r.seconds) << ")\n";
}

}  // namespace genplug::cli
