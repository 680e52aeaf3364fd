#include "detect_background.hpp"

#include <algorithm>
#include <cmath>

#include "detect_labels.hpp"
#include "scene_geometry.hpp"

namespace genplug::mini {
namespace {

double distance(const RGB& a, const RGB& b) {
  return std::sqrt((double(a[0]) - b[0]) * (double(a[0]) - b[0]) + (double(a[1]) - b[1]) * (double(a[1]) - b[1]) +
                   (double(a[2]) - b[2]) * (double(a[2]) - b[2]));
}

// Whether the pixel is nearer the first colour than the second.
bool nearer_first(const RGB& pixel, const Background& background) {
  return distance(pixel, rgb_of(background.first)) < distance(pixel, rgb_of(background.second));
}

bool matches(const RGB& pixel, const Frame& frame, const Background& background, int row, int column) {
  switch (background.pattern) {
    case Pattern::plain:
    case Pattern::gradient:
      return distance(pixel, background_at(frame, background, {column + 0.5, row + 0.5})) <= max_background_distance;
    case Pattern::stripes:
    case Pattern::checker: return background_distance(pixel, background) <= max_background_distance;
  }
  return false;
}

// Mean colour of the pixel's 3x3 neighbourhood without object-labelled pixels (noise averages out; the
// pattern's own edges are mixes its rules allow).
RGB local_mean(const Image& image, const std::vector<std::int8_t>& labels, int row, int column) {
  double sum[3] = {0, 0, 0}, n = 0;
  for (int r = std::max(0, row - 1); r <= std::min(image.height - 1, row + 1); ++r)
    for (int c = std::max(0, column - 1); c <= std::min(image.width - 1, column + 1); ++c) {
      if (labels[static_cast<std::size_t>(r) * image.width + c] >= 0) continue;
      for (int k = 0; k < 3; ++k) sum[k] += image.at(k, r, c);
      n += 1;
    }
  return {float(sum[0] / n), float(sum[1] / n), float(sum[2] / n)};
}

}  // namespace

double background_match(const Image& image, const Background& background, const std::vector<std::int8_t>& labels,
                        double object_pixels) {
  const Frame frame{image.width, image.height};
  double matching = 0, first = 0;
  for (int row = 0; row < image.height; ++row)
    for (int column = 0; column < image.width; ++column) {
      if (labels[static_cast<std::size_t>(row) * image.width + column] >= 0) continue;
      const RGB pixel = local_mean(image, labels, row, column);
      if (!matches(pixel, frame, background, row, column)) continue;
      matching += 1;
      first += nearer_first(pixel, background);
    }
  const bool two_colours = background.pattern == Pattern::stripes || background.pattern == Pattern::checker;
  if (two_colours && matching > 0 &&
      std::min(first, matching - first) < min_pattern_colour_share * matching)
    return 0.0;
  const double outside = static_cast<double>(labels.size()) - object_pixels;
  return outside > 0 ? matching / outside : 1.0;
}

}  // namespace genplug::mini
