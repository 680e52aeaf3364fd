#include "scene_geometry.hpp"

#include <algorithm>
#include <cmath>

namespace genplug::mini {
namespace {

// Which side of the directed edge a -> b the point lies on (> 0: to the right in y-down coordinates).
double edge_side(double ax, double ay, double bx, double by, double x, double y) {
  return (bx - ax) * (y - ay) - (by - ay) * (x - ax);
}

bool triangle_covers(double x, double y) {
  const double ax = 0, ay = -1.1, bx = 1.1, by = 0.55, cx = -1.1, cy = 0.55;
  return edge_side(ax, ay, bx, by, x, y) >= 0 && edge_side(bx, by, cx, cy, x, y) >= 0 &&
         edge_side(cx, cy, ax, ay, x, y) >= 0;
}

RGB mix(const RGB& a, const RGB& b, double t) {
  RGB out;
  for (int c = 0; c < 3; ++c) out[c] = static_cast<float>(a[c] + (b[c] - a[c]) * t);
  return out;
}

// Index of the period a coordinate falls in, counted from `origin` (negative to the left/top).
long period_index(double coordinate, double origin, double period) {
  return static_cast<long>(std::floor((coordinate - origin) / period));
}

}  // namespace

double object_radius(const Frame& frame) { return object_radius_in_units * frame.unit(); }

Point cell_center(const Frame& frame, Position position) {
  return {(column_of(position) + 0.5) * frame.width / 3.0, (row_of(position) + 0.5) * frame.height / 3.0};
}

Position cell_at(const Frame& frame, Point point) {
  const int column = std::clamp(static_cast<int>(std::floor(3.0 * point.x / frame.width)), 0, 2);
  const int row = std::clamp(static_cast<int>(std::floor(3.0 * point.y / frame.height)), 0, 2);
  return Position(3 * row + column);
}

bool shape_covers(Kind kind, double x, double y) {
  const double r2 = x * x + y * y;
  switch (kind) {
    case Kind::circle: return r2 <= 1.0;
    case Kind::square: return std::abs(x) <= 0.85 && std::abs(y) <= 0.85;
    case Kind::triangle: return triangle_covers(x, y);
    case Kind::ring: return r2 <= 1.0 && r2 >= 0.25;
    case Kind::cross:
      return (std::abs(x) <= 0.35 && std::abs(y) <= 1.0) || (std::abs(y) <= 0.35 && std::abs(x) <= 1.0);
  }
  return false;
}

RGB background_at(const Frame& frame, const Background& background, Point point) {
  const RGB first = rgb_of(background.first), second = rgb_of(background.second);
  switch (background.pattern) {
    case Pattern::plain: return first;
    case Pattern::gradient: return mix(first, second, std::clamp(point.y / frame.height, 0.0, 1.0));
    case Pattern::stripes: {
      const double width = stripe_width_in_units * frame.unit();
      return period_index(point.x, frame.width / 2.0, width) % 2 == 0 ? first : second;
    }
    case Pattern::checker: {
      const double cell = checker_cell_in_units * frame.unit();
      const long k = period_index(point.x, frame.width / 2.0, cell) + period_index(point.y, frame.height / 2.0, cell);
      return k % 2 == 0 ? first : second;
    }
  }
  return first;
}

RGB scene_colour_at(const Frame& frame, const Scene& scene, Point point) {
  const double radius = object_radius(frame);
  for (const SceneObject& o : scene.objects) {
    const Point c = cell_center(frame, o.position);
    if (shape_covers(o.kind, (point.x - c.x) / radius, (point.y - c.y) / radius)) return rgb_of(o.colour);
  }
  return background_at(frame, scene.background, point);
}

}  // namespace genplug::mini
