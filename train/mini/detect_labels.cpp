#include "detect_labels.hpp"

#include <algorithm>
#include <cmath>

namespace genplug::mini {
namespace {

struct OnSegment {
  double t = 0;         // position along a -> b, clamped to [0,1]
  double distance = 0;  // from the point to that position
};

OnSegment project(const RGB& p, const RGB& a, const RGB& b) {
  double along = 0, length2 = 0;
  for (int c = 0; c < 3; ++c) {
    along += (double(p[c]) - a[c]) * (double(b[c]) - a[c]);
    length2 += (double(b[c]) - a[c]) * (double(b[c]) - a[c]);
  }
  OnSegment out;
  out.t = length2 > 0 ? std::clamp(along / length2, 0.0, 1.0) : 0.0;
  double sum = 0;
  for (int c = 0; c < 3; ++c) {
    const double d = p[c] - (a[c] + out.t * (double(b[c]) - a[c]));
    sum += d * d;
  }
  out.distance = std::sqrt(sum);
  return out;
}

RGB nearest_background(const RGB& p, const Background& background) {
  const RGB a = rgb_of(background.first), b = rgb_of(background.second);
  const double t = project(p, a, b).t;
  return {float(a[0] + t * (b[0] - a[0])), float(a[1] + t * (b[1] - a[1])), float(a[2] + t * (b[2] - a[2]))};
}

std::int8_t label_of(const RGB& pixel, const Background& background) {
  const RGB b = nearest_background(pixel, background);
  std::int8_t best = label_unknown;
  double best_residual = max_object_residual;
  for (int k = 0; k < colour_count; ++k) {
    const OnSegment mix = project(pixel, b, rgb_of(Colour(k)));
    if (mix.t >= 0.5 - half_coverage_tolerance && mix.distance <= best_residual) best = static_cast<std::int8_t>(k), best_residual = mix.distance;
  }
  if (best != label_unknown) return best;
  return background_distance(pixel, background) <= max_label_distance ? label_background : label_unknown;
}

}  // namespace

double background_distance(const RGB& colour, const Background& background) {
  return project(colour, rgb_of(background.first), rgb_of(background.second)).distance;
}

double coverage_estimate(const RGB& pixel, Colour colour, const Background& background) {
  return project(pixel, nearest_background(pixel, background), rgb_of(colour)).t;
}

std::vector<std::int8_t> label_pixels(const Image& image, const Background& background) {
  std::vector<std::int8_t> labels(image.plane_size());
  for (int row = 0; row < image.height; ++row)
    for (int column = 0; column < image.width; ++column) {
      const RGB colour{image.at(0, row, column), image.at(1, row, column), image.at(2, row, column)};
      labels[static_cast<std::size_t>(row) * image.width + column] = label_of(colour, background);
    }
  return labels;
}

}  // namespace genplug::mini
