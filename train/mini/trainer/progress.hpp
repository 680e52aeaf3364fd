// One progress line per report on the terminal: phase, step, smoothed loss, elapsed time and ETA.
#pragma once
#include <chrono>
#include <cstdio>
#include <string>

namespace genplug::mini {

class Progress {
 public:
  Progress(std::string phase, long total_steps) : phase_(std::move(phase)), total_(total_steps) {}

  // Loss smoothed over ~50 steps (an exponential average, debiased as Adam's moments are).
  void record(double loss) {
    smoothed_ = 0.98 * smoothed_ + 0.02 * loss;
    weight_ = 0.98 * weight_ + 0.02;
    ++done_;
  }
  double smoothed_loss() const { return weight_ > 0 ? smoothed_ / weight_ : 0.0; }
  double elapsed_seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  void report() const {
    const double elapsed = elapsed_seconds();
    const double eta = done_ > 0 ? elapsed / double(done_) * double(total_ - done_) : 0.0;
    std::printf("%s  step %6ld/%ld  loss %.5f  %6.1f min  ETA %5.1f min  (%.2f s/step)\n", phase_.c_str(), done_,
                total_, smoothed_loss(), elapsed / 60.0, eta / 60.0, done_ > 0 ? elapsed / double(done_) : 0.0);
    std::fflush(stdout);
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::string phase_;
  long total_ = 0, done_ = 0;
  double smoothed_ = 0.0, weight_ = 0.0;
  Clock::time_point start_ = Clock::now();
};

}  // namespace genplug::mini
