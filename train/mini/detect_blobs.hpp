// Detector step 2: objects found in a labelled image, each with its colour, kind and cell.
#pragma once
#include <optional>
#include <vector>

#include "image.hpp"
#include "scene.hpp"
#include "scene_geometry.hpp"

namespace genplug::mini {

struct Blob {
  Colour colour = Colour::red;
  std::optional<Kind> kind;  // none when no kind's template overlaps it well enough (min_kind_score)
  double kind_score = 0;     // the best template's IoU, in [0,1]
  Point centroid;
  Position position = Position::center;  // the cell its centroid lies in
  double area = 0;                       // pixels
};

// A component smaller than this fraction of the smallest kind's area (the triangle, 1.815 R^2) is noise.
inline constexpr double min_blob_area_fraction = 0.35;
// A component larger than this times the largest kind's area (the circle, pi R^2) is not an object (e.g. a
// background of the wrong colour); its pixels count against the background.
inline constexpr double max_blob_area_factor = 3.0;
// Below this best-template IoU a blob has no kind.
inline constexpr double min_kind_score = 0.5;
// Template sizes tried, relative to the grammar's radius (a model may draw shapes a little small or large);
// an off-size template's IoU counts off_scale_penalty less, so that at the grammar's size, where a small disc
// and a smaller square can be the same pixels (32 px frames), the true size decides.
inline constexpr double template_scales[] = {1.0, 0.85, 1.15};
inline constexpr double off_scale_penalty = 0.02;

// Rule: 8-connected components of equal object-colour labels, kept when of an object's size and not the rim
// of a larger one they touch; each gets the kind whose template (at the frame's radius times a template
// scale, centred on the component's coverage-weighted centroid) has the highest IoU with it, and the cell its
// centroid lies in. Sorted by position, then colour.
std::vector<Blob> find_blobs(const Image& image, const Background& background);

// A set of pixels of a width x height image: mask row-major, area = its count of true.
struct PixelMask {
  int width = 0;
  int height = 0;
  std::vector<bool> inside;
  double area = 0;
};

// IoU of a pixel set and a kind's template at `center` and `radius`: the template is the pixels the shape
// covers more than half of (4x4 sub-pixel samples, as the renderer draws them); pixels it covers 1/2 +- edge_band
// are left out of both sets, as their label depends on the background's mix at the edge (at 32 px a disc and
// a square differ by a few pixels, and a square's edges can be exactly half-covered).
inline constexpr double edge_band = 0.15;
double template_iou(const PixelMask& mask, Kind kind, Point center, double radius);

}  // namespace genplug::mini
