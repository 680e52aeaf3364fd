// Where things are in a frame of any size: the one definition the renderer and the detector share.
//
// Coordinates are continuous pixels: x to the right, y down, pixel (row i, column j) covers [j, j+1) x [i, i+1).
// Positions are relative to the frame (the 3x3 grid divides width and height in thirds); sizes and pattern
// periods are relative to the short side u = min(width, height), so shapes stay round in any aspect ratio and
// the right picture is defined at every resolution.
#pragma once
#include "scene.hpp"

namespace genplug::mini {

struct Frame {
  int width = 0;
  int height = 0;
  double unit() const { return width < height ? width : height; }
};

struct Point {
  double x = 0;
  double y = 0;
};

// Object "radius" R = 0.13 u: every kind lies within the square |x|, |y| <= 1.1 R around its centre, so objects
// in neighbouring cells keep a gap of at least u/3 - 2.2 R = 0.047 u.
inline constexpr double object_radius_in_units = 0.13;
// Stripes are u/16 wide, checker cells u/8 square; both are anchored at the frame's centre.
inline constexpr double stripe_width_in_units = 1.0 / 16;
inline constexpr double checker_cell_in_units = 1.0 / 8;

double object_radius(const Frame& frame);
// Centre of a grid cell: ((column + 0.5) W/3, (row + 0.5) H/3). Every kind's centroid is its centre.
Point cell_center(const Frame& frame, Position position);
// The cell a point falls in (clamped to the grid).
Position cell_at(const Frame& frame, Point point);

// Whether the shape of `kind` centred at the origin with radius 1 covers (x, y) (y down):
// circle r <= 1; square |x|,|y| <= 0.85; triangle apex (0,-1.1), base corners (+-1.1, 0.55);
// ring 0.5 <= r <= 1; cross |x| <= 0.35 and |y| <= 1, or the same turned by 90 degrees.
bool shape_covers(Kind kind, double x, double y);

// The background's colour at a point: plain; gradient first at y = 0 to second at y = H, linear in y;
// stripes: first on [k s, (k+1) s) right of the vertical centre line for even k; checker likewise in both axes.
RGB background_at(const Frame& frame, const Background& background, Point point);

// Colour of the scene at a point: the object covering it (objects never overlap), else the background.
RGB scene_colour_at(const Frame& frame, const Scene& scene, Point point);

}  // namespace genplug::mini
