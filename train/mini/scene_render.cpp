#include "scene_render.hpp"

#include <stdexcept>

#include "scene_geometry.hpp"

namespace genplug::mini {
namespace {

RGB pixel_colour(const Frame& frame, const Scene& scene, int row, int column) {
  constexpr int n = render_supersampling;
  double sum[3] = {0, 0, 0};
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < n; ++b) {
      const Point p{column + (b + 0.5) / n, row + (a + 0.5) / n};
      const RGB c = scene_colour_at(frame, scene, p);
      for (int k = 0; k < 3; ++k) sum[k] += c[k];
    }
  return {static_cast<float>(sum[0] / (n * n)), static_cast<float>(sum[1] / (n * n)),
          static_cast<float>(sum[2] / (n * n))};
}

}  // namespace

Image render_scene(const Scene& scene, int width, int height) {
  if (width < 1 || height < 1) throw std::invalid_argument("render_scene: width and height must be >= 1");
  const Frame frame{width, height};
  Image image(width, height);
  for (int row = 0; row < height; ++row)
    for (int column = 0; column < width; ++column) {
      const RGB c = pixel_colour(frame, scene, row, column);
      for (int k = 0; k < 3; ++k) image.at(k, row, column) = c[k];
    }
  return image;
}

}  // namespace genplug::mini
