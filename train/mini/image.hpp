// A planar float RGB picture, the layout the host's EXR writer and the model's decode() use.
#pragma once
#include <cstddef>
#include <vector>

namespace genplug::mini {

// R plane, G plane, B plane, each width*height floats, row-major, top row first; values nominally in [0,1].
struct Image {
  int width = 0;
  int height = 0;
  std::vector<float> planar;

  Image() = default;
  Image(int w, int h) : width(w), height(h), planar(static_cast<std::size_t>(3) * w * h, 0.0f) {}

  std::size_t plane_size() const { return static_cast<std::size_t>(width) * height; }
  float& at(int channel, int row, int column) {
    return planar[channel * plane_size() + static_cast<std::size_t>(row) * width + column];
  }
  float at(int channel, int row, int column) const {
    return planar[channel * plane_size() + static_cast<std::size_t>(row) * width + column];
  }
};

}  // namespace genplug::mini
