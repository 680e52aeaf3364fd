// Detector step 3: is the background the one the prompt names (its colours, and a gradient's direction)?
#pragma once
#include <cstdint>
#include <vector>

#include "image.hpp"
#include "scene.hpp"

namespace genplug::mini {

// A background pixel farther than this (Euclidean RGB) from what the pattern allows does not match.
inline constexpr double max_background_distance = 0.15;
// Stripes and checkers: each colour must hold at least this share of the matching pixels.
inline constexpr double min_pattern_colour_share = 0.25;

// The fraction of the pixels outside objects (`object_pixels` of them; the rest of `labels` < 0 or specks)
// that match the background, judged by the mean of each pixel's 3x3 neighbourhood outside objects. Rules: plain - within max_background_distance of its colour; gradient - of the
// gradient's colour at that row; stripes / checker - of the segment between the two colours (edges mix them),
// and 0 when either colour holds less than min_pattern_colour_share of the matching pixels. The stripes' and
// checker's phase is not checked (their colours are; issue #14 measures fine detail separately).
double background_match(const Image& image, const Background& background, const std::vector<std::int8_t>& labels,
                        double object_pixels);

}  // namespace genplug::mini
