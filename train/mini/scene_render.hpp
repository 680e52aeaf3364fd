// The exact picture of a scene at any size: the definition of "the right picture" for a prompt.
#pragma once
#include "image.hpp"
#include "scene.hpp"

namespace genplug::mini {

// Samples per pixel along each axis; a pixel is the mean of the scene colour at its 4 x 4 sub-pixel centres
// (a box filter: edges are anti-aliased the same way at every resolution).
inline constexpr int render_supersampling = 4;

// Renders `scene` into a width x height image (both >= 1, any aspect ratio), values in [0,1].
// Deterministic: the same pixels for the same arguments on every platform with IEEE double arithmetic.
Image render_scene(const Scene& scene, int width, int height);

}  // namespace genplug::mini
