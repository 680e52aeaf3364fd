// The small pictures the distribution distance compares (docs/dype-effect.md section 2.4): every image box-averaged
// by an integer factor to short side 32, e.g. 128 x 128 -> 32 x 32 (factor 4), 512 x 128 -> 128 x 32 (16),
// 128 x 384 -> 32 x 96 (4). Image::planar of the result is the vector x in R^D (D = 3 w h) that gets projected.
#pragma once
#include "image.hpp"

namespace genplug::mini {

inline constexpr int thumbnail_short_side = 32;

// The factor f = min(W, H) / 32; std::invalid_argument unless it is a whole number that divides both sides.
int thumbnail_factor(int width, int height);

// Each output pixel is the mean of an f x f block, per channel: out(c, i, j) = mean over a, b < f of
// in(c, f i + a, f j + b). Both sides must be multiples of f (else std::invalid_argument).
Image box_downsample(const Image& image, int factor);

// box_downsample(image, thumbnail_factor(width, height)).
Image thumbnail(const Image& image);

}  // namespace genplug::mini
