// Detector step 1: every pixel labelled with the object colour it shows, or as background.
//
// A pixel is read as a mix of the background and one object colour (anti-aliased edges are such mixes): with b
// the background colour nearest to it, its coverage by colour c is its position t_c along the segment b -> c and
// its residual the distance from that segment.
#pragma once
#include <cstdint>
#include <vector>

#include "image.hpp"
#include "scene.hpp"

namespace genplug::mini {

// Label of a pixel: 0 .. colour_count-1 = that object colour, or one of these.
inline constexpr std::int8_t label_background = -1;
inline constexpr std::int8_t label_unknown = -2;

// Largest residual (Euclidean RGB) of a pixel labelled with an object colour, and largest distance to the
// background of a pixel labelled background; others are unknown.
inline constexpr double max_object_residual = 0.3;
inline constexpr double max_label_distance = 0.4;
// t_c at or above 1/2 - this labels the pixel c, so that exactly half-covered pixels (coverage is k/16 in a
// render) go the same way whatever rounding the colour mix had (the kind templates ignore such pixels).
inline constexpr double half_coverage_tolerance = 1e-3;

// Distance from `colour` to the background's colours: to the segment between its two colours (a gradient
// spans it; anti-aliased stripe and checker edges are mixtures on it), or to its one colour when plain.
double background_distance(const RGB& colour, const Background& background);

// The pixel's coverage t_c by `colour` in [0,1] (see above): exact for an edge over a plain background.
double coverage_estimate(const RGB& pixel, Colour colour, const Background& background);

// Rule per pixel: the colour c with t_c >= 1/2 and the smallest residual, if that residual is at most
// max_object_residual; else background if the pixel is that close to the background; else unknown.
// Row-major, width*height labels.
std::vector<std::int8_t> label_pixels(const Image& image, const Background& background);

}  // namespace genplug::mini
