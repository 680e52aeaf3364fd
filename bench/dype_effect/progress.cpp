#include "progress.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace genplug::dype_effect {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

}  // namespace

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char text[32];
  if (s >= 3600)
    std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(text, sizeof text, "%ld:%02ld", s / 60, s % 60);
  return text;
}

ProgressTracker::ProgressTracker(const std::vector<Size>& sizes, const std::map<std::string, ProbeFigures>& probe,
                                 int render_threads)
    : sizes_(sizes), probe_(probe), render_threads_(std::max(1, render_threads)), start_(Clock::now()),
      last_print_(Clock::now()) {
  for (const auto& [label, p] : probe) total_ += p.renders;
  for (const Size& s : sizes) {
    const ProbeFigures& p = probe.at(s.label);
    rendered(s.label, p.render_seconds);
    scored(s.label, p.score_seconds);
    real_unit(s.label, p.real_unit_seconds);
  }
}

double ProgressTracker::eta() {
  std::lock_guard<std::mutex> lock(mutex_);
  return eta_locked();
}

double ProgressTracker::eta_locked() const {
  double main_left = 0, worker_left = 0;
  for (const Size& s : sizes_) {
    const ProbeFigures& p = probe_.at(s.label);
    const Figures& f = figures_.at(s.label);
    main_left += std::max(0, p.renders - f.render.count) * f.render.mean_or(p.render_seconds);
    worker_left += std::max(0, p.renders - f.score.count) * f.score.mean_or(p.score_seconds) +
                   std::max(0, p.units - f.real.count) * f.real.mean_or(p.real_unit_seconds);
  }
  return std::max(main_left / render_threads_, worker_left);
}

void ProgressTracker::print(const std::string& what, bool always) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!always && seconds_since(last_print_) < 10) return;
  last_print_ = Clock::now();
  int rendered = 0, scored = 0;
  for (const auto& [label, f] : figures_) rendered += f.render.count, scored += f.score.count;
  std::fprintf(stderr, "genplug-dype-effect: %-26s %5d/%d rendered %5d scored  elapsed %s  ETA %s\n", what.c_str(),
               rendered, total_, scored, clock_text(seconds_since(start_)).c_str(), clock_text(eta_locked()).c_str());
}

json ProgressTracker::to_json() {
  std::lock_guard<std::mutex> lock(mutex_);
  json j = json::object();
  for (const auto& [label, f] : figures_)
    j[label] = {{"renders", f.render.count}, {"render_seconds", f.render.sum},
                {"mean_render_seconds", f.render.mean_or(0)}, {"scores", f.score.count},
                {"score_seconds", f.score.sum}, {"mean_score_seconds", f.score.mean_or(0)},
                {"real_units", f.real.count}, {"real_seconds", f.real.sum},
                {"mean_real_unit_seconds", f.real.mean_or(0)}};
  return j;
}

void ProgressTracker::add(const std::string& size, Sum Figures::*which, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  Sum& s = figures_[size].*which;
  ++s.count;
  s.sum += seconds;
}

}  // namespace genplug::dype_effect
