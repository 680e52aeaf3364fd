#include "thumbnail.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace genplug::mini {

int thumbnail_factor(int width, int height) {
  const int short_side = std::min(width, height);
  const int factor = short_side / thumbnail_short_side;
  if (short_side < thumbnail_short_side || short_side % thumbnail_short_side != 0 || width % factor != 0 ||
      height % factor != 0)
    throw std::invalid_argument("thumbnail: " + std::to_string(width) + " x " + std::to_string(height) +
                                " does not shrink by a whole factor to short side " +
                                std::to_string(thumbnail_short_side));
  return factor;
}

Image box_downsample(const Image& image, int factor) {
  if (factor < 1 || image.width % factor != 0 || image.height % factor != 0)
    throw std::invalid_argument("box_downsample: factor " + std::to_string(factor) + " does not divide " +
                                std::to_string(image.width) + " x " + std::to_string(image.height));
  Image out(image.width / factor, image.height / factor);
  const double block_area = static_cast<double>(factor) * factor;
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < out.height; ++i)
      for (int j = 0; j < out.width; ++j) {
        double sum = 0;
        for (int a = 0; a < factor; ++a)
          for (int b = 0; b < factor; ++b) sum += image.at(c, factor * i + a, factor * j + b);
        out.at(c, i, j) = static_cast<float>(sum / block_area);
      }
  return out;
}

Image thumbnail(const Image& image) { return box_downsample(image, thumbnail_factor(image.width, image.height)); }

}  // namespace genplug::mini
