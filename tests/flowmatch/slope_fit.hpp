// Least-squares line through (log N, log error): the observed convergence order and its standard error.
#pragma once

#include <cmath>
#include <stdexcept>
#include <vector>

namespace genplug::test {

struct SlopeFit {
  double slope = 0;           // d log(error) / d log(N): -order
  double standard_error = 0;  // of the slope, from the residuals
};

inline SlopeFit fit_log_log(const std::vector<double>& n, const std::vector<double>& error) {
  if (n.size() != error.size() || n.size() < 3) throw std::invalid_argument("fit_log_log: need >= 3 points");
  const double k = static_cast<double>(n.size());
  double mx = 0, my = 0;
  for (size_t i = 0; i < n.size(); ++i) {
    mx += std::log(n[i]) / k;
    my += std::log(error[i]) / k;
  }
  double sxx = 0, sxy = 0;
  for (size_t i = 0; i < n.size(); ++i) {
    const double dx = std::log(n[i]) - mx, dy = std::log(error[i]) - my;
    sxx += dx * dx;
    sxy += dx * dy;
  }
  SlopeFit f;
  f.slope = sxy / sxx;
  double ss = 0;
  for (size_t i = 0; i < n.size(); ++i) {
    const double r = std::log(error[i]) - (my + f.slope * (std::log(n[i]) - mx));
    ss += r * r;
  }
  f.standard_error = std::sqrt(ss / (k - 2) / sxx);
  return f;
}

}  // namespace genplug::test
