// The run's clock (docs/dype-effect.md section 1, "Running the benchmark"): the probe's figures per size, from which
// the run is estimated before it starts, and the tracker that counts the streams as they run (renders on the render
// threads; scores and exact-render sets on the worker) for the ETA on stderr and the timings in run.json.
#pragma once
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiment.hpp"

namespace genplug::dype_effect {

double seconds_since(std::chrono::steady_clock::time_point start);

// "m:ss", or "h:mm:ss" from an hour; "?" for a negative or unknown time.
std::string clock_text(double seconds);

// The probe's measurements at one size: one render of unit 0, its scoring, and one unit of the exact-render sets.
struct ProbeFigures {
  std::string config;
  double render_seconds = 0, score_seconds = 0, real_unit_seconds = 0;
  int renders = 0;  // planned at this size
  int units = 0;
  // The render threads render while a worker scores and makes the exact-render sets (all of a size's renders,
  // over every render thread; each figure is of one render alone).
  double main_stream() const { return renders * render_seconds; }
  double worker_stream() const { return renders * score_seconds + units * real_unit_seconds; }
};

// Counts and times of the streams per size. The probe's render, score and real unit count as done from the start.
// Every member may be called from any thread (render threads, the worker), hence the lock.
class ProgressTracker {
 public:
  ProgressTracker(const std::vector<Size>& sizes, const std::map<std::string, ProbeFigures>& probe,
                  int render_threads);
  void rendered(const std::string& size, double seconds) { add(size, &Figures::render, seconds); }
  void scored(const std::string& size, double seconds) { add(size, &Figures::score, seconds); }
  void real_unit(const std::string& size, double seconds) { add(size, &Figures::real, seconds); }

  // max(render streams left / render threads, worker stream left), each from the means so far (the probe's before
  // any).
  double eta();
  // One progress line on stderr; unless `always`, at most one per 10 s.
  void print(const std::string& what, bool always);
  // run.json's timings.per_size.
  nlohmann::json to_json();

 private:
  struct Sum {
    int count = 0;
    double sum = 0;
    double mean_or(double fallback) const { return count ? sum / count : fallback; }
  };
  struct Figures {
    Sum render, score, real;
  };
  void add(const std::string& size, Sum Figures::*which, double seconds);
  double eta_locked() const;

  std::vector<Size> sizes_;
  std::map<std::string, ProbeFigures> probe_;
  int render_threads_;
  std::chrono::steady_clock::time_point start_, last_print_;
  std::mutex mutex_;
  std::map<std::string, Figures> figures_;
  int total_ = 0;
};

}  // namespace genplug::dype_effect
