#include "loss_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace genplug::mini {

namespace {

struct Curve {
  std::vector<double> steps, losses;
};

Curve read_csv(const std::filesystem::path& path) {
  Curve c;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    double step = 0, loss = 0;
    if (std::sscanf(line.c_str(), "%lf,%lf", &step, &loss) == 2 && loss > 0) {
      c.steps.push_back(step);
      c.losses.push_back(loss);
    }
  }
  return c;
}

std::string number(double v) {
  char s[32];
  std::snprintf(s, sizeof s, "%g", v);
  return s;
}

// One panel at (x0, 0) of width w and height h: frame, decade grid lines with labels, the curve.
void panel(std::ostringstream& svg, double x0, double w, double h, const std::string& title, const Curve& c) {
  const double left = x0 + 60, right = x0 + w - 15, top = 30, bottom = h - 40;
  const double lo = std::floor(std::log10(*std::min_element(c.losses.begin(), c.losses.end())));
  const double hi = std::ceil(std::log10(*std::max_element(c.losses.begin(), c.losses.end())));
  const double span = std::max(1.0, hi - lo), last = c.steps.back();
  auto px = [&](double step) { return left + (right - left) * step / last; };
  auto py = [&](double loss) { return bottom - (bottom - top) * (std::log10(loss) - lo) / span; };
  svg << "<text x='" << (left + right) / 2 << "' y='18' text-anchor='middle'>" << title << "</text>\n";
  svg << "<rect x='" << left << "' y='" << top << "' width='" << right - left << "' height='" << bottom - top
      << "' fill='none' stroke='#444'/>\n";
  for (double d = lo; d <= lo + span; d += 1) {
    svg << "<line x1='" << left << "' x2='" << right << "' y1='" << py(std::pow(10, d)) << "' y2='"
        << py(std::pow(10, d)) << "' stroke='#ddd'/>\n";
    svg << "<text x='" << left - 5 << "' y='" << py(std::pow(10, d)) + 4 << "' text-anchor='end'>"
        << number(std::pow(10, d)) << "</text>\n";
  }
  svg << "<text x='" << left << "' y='" << bottom + 16 << "'>0</text><text x='" << right << "' y='" << bottom + 16
      << "' text-anchor='end'>" << number(last) << "</text>\n";
  svg << "<text x='" << (left + right) / 2 << "' y='" << bottom + 32 << "' text-anchor='middle'>step</text>\n";
  svg << "<polyline fill='none' stroke='#1f5fbf' stroke-width='1.5' points='";
  for (std::size_t i = 0; i < c.steps.size(); ++i) svg << px(c.steps[i]) << ',' << py(c.losses[i]) << ' ';
  svg << "'/>\n";
}

}  // namespace

void write_loss_plot(const std::filesystem::path& path,
                     const std::vector<std::pair<std::string, std::filesystem::path>>& panels) {
  const double w = 420, h = 280;
  std::ostringstream body;
  int n = 0;
  for (const auto& [title, csv] : panels) {
    const Curve c = read_csv(csv);
    if (c.steps.empty()) continue;
    panel(body, n++ * w, w, h, title + " loss (smoothed)", c);
  }
  std::ofstream out(path);
  out << "<svg xmlns='http://www.w3.org/2000/svg' width='" << std::max(1, n) * w << "' height='" << h
      << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n"
      << body.str() << "</svg>\n";
}

}  // namespace genplug::mini
