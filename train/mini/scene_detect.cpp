#include "scene_detect.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "detect_background.hpp"
#include "detect_labels.hpp"

namespace genplug::mini {
namespace {

using BlobTest = bool (*)(const Blob&, const SceneObject&);

bool same_colour_and_cell(const Blob& b, const SceneObject& o) {
  return b.colour == o.colour && b.position == o.position;
}
bool same_colour(const Blob& b, const SceneObject& o) { return b.colour == o.colour; }
bool same_cell(const Blob& b, const SceneObject& o) { return b.position == o.position; }

// The unused blob passing `test` nearest to the object's cell centre, or -1.
int nearest_unused(const std::vector<Blob>& blobs, const std::vector<bool>& used, const SceneObject& object,
                   const Frame& frame, BlobTest test) {
  const Point center = cell_center(frame, object.position);
  int best = -1;
  double best_distance = std::numeric_limits<double>::infinity();
  for (int i = 0; i < static_cast<int>(blobs.size()); ++i) {
    if (used[i] || !test(blobs[i], object)) continue;
    const double d = std::hypot(blobs[i].centroid.x - center.x, blobs[i].centroid.y - center.y);
    if (d < best_distance) best = i, best_distance = d;
  }
  return best;
}

std::vector<int> match_objects(const std::vector<Blob>& blobs, const Scene& scene, const Frame& frame) {
  std::vector<int> match(scene.objects.size(), -1);
  std::vector<bool> used(blobs.size(), false);
  for (BlobTest test : {same_colour_and_cell, same_colour, same_cell})
    for (std::size_t i = 0; i < scene.objects.size(); ++i) {
      if (match[i] >= 0) continue;
      match[i] = nearest_unused(blobs, used, scene.objects[i], frame, test);
      if (match[i] >= 0) used[match[i]] = true;
    }
  return match;
}

ObjectVerdict verdict_of(const std::vector<Blob>& blobs, int blob, const SceneObject& object) {
  ObjectVerdict v;
  v.blob = blob;
  if (blob < 0) return v;
  const Blob& b = blobs[blob];
  v.colour_right = b.colour == object.colour;
  v.kind_right = b.kind.has_value() && *b.kind == object.kind;
  v.position_right = b.position == object.position;
  return v;
}

}  // namespace

int SceneVerdict::objects_right() const {
  int n = 0;
  for (const ObjectVerdict& v : objects) n += v.right();
  return n;
}

bool SceneVerdict::all_right() const {
  return objects_right() == static_cast<int>(objects.size()) && count_right && background_right;
}

SceneVerdict detect_scene(const Image& image, const Scene& expected) {
  const Frame frame{image.width, image.height};
  SceneVerdict verdict;
  verdict.blobs = find_blobs(image, expected.background);
  const std::vector<int> match = match_objects(verdict.blobs, expected, frame);
  for (std::size_t i = 0; i < expected.objects.size(); ++i)
    verdict.objects.push_back(verdict_of(verdict.blobs, match[i], expected.objects[i]));
  verdict.count_right = verdict.blobs.size() == expected.objects.size();
  double object_pixels = 0;
  for (const Blob& b : verdict.blobs) object_pixels += b.area;
  verdict.background_fraction =
      background_match(image, expected.background, label_pixels(image, expected.background), object_pixels);
  verdict.background_right = verdict.background_fraction >= min_background_fraction;
  return verdict;
}

}  // namespace genplug::mini
