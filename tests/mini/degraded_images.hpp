// Deliberately degraded copies of exact renders for the scoring tests: Gaussian noise and box blur.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "image.hpp"
#include "rng.hpp"

namespace genplug::test {

// One N(0, 1) deviate: Box-Muller on SplitMix64, cosine branch.
inline double standard_normal(mini::SplitMix64& rng) {
  const double u1 = 1.0 - rng.unit(), u2 = rng.unit();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Adds N(0, sigma^2) to every value, then clamps to [0,1].
inline mini::Image with_noise(mini::Image image, double sigma, std::uint64_t seed) {
  mini::SplitMix64 rng(seed);
  for (float& v : image.planar) v = static_cast<float>(std::clamp(v + sigma * standard_normal(rng), 0.0, 1.0));
  return image;
}

// One pass of a (2r+1)-wide box filter along rows or columns, edges clamped.
inline mini::Image box_pass(const mini::Image& in, int radius, bool along_rows) {
  mini::Image out(in.width, in.height);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < in.height; ++y)
      for (int x = 0; x < in.width; ++x) {
        double sum = 0;
        for (int d = -radius; d <= radius; ++d) {
          const int xx = along_rows ? std::clamp(x + d, 0, in.width - 1) : x;
          const int yy = along_rows ? y : std::clamp(y + d, 0, in.height - 1);
          sum += in.at(c, yy, xx);
        }
        out.at(c, y, x) = static_cast<float>(sum / (2 * radius + 1));
      }
  return out;
}

// A (2r+1) x (2r+1) box blur, separable.
inline mini::Image blurred(const mini::Image& image, int radius) {
  return box_pass(box_pass(image, radius, true), radius, false);
}

}  // namespace genplug::test
