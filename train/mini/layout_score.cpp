#include "layout_score.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace genplug::mini {
namespace {

void require_one_verdict_per_object(const SceneVerdict& verdict, const Scene& scene) {
  if (verdict.objects.size() != scene.objects.size())
    throw std::invalid_argument("layout_score: the verdict has " + std::to_string(verdict.objects.size()) +
                                " objects, the scene " + std::to_string(scene.objects.size()));
}

// Whether some described object was matched to blob `blob`.
bool is_matched(const SceneVerdict& verdict, int blob) {
  return std::any_of(verdict.objects.begin(), verdict.objects.end(),
                     [blob](const ObjectVerdict& v) { return v.blob == blob; });
}

bool looks_like(const Blob& blob, const SceneObject& object) {
  return blob.colour == object.colour && blob.kind.has_value() && *blob.kind == object.kind;
}

// Whether blob `blob` is matched to an object other than `object` that it looks like (its rightful owner).
bool is_claimed_by_a_look_alike(const SceneVerdict& verdict, const Scene& scene, int blob, std::size_t object) {
  for (std::size_t i = 0; i < scene.objects.size(); ++i)
    if (i != object && verdict.objects[i].blob == blob && looks_like(verdict.blobs[blob], scene.objects[i])) return true;
  return false;
}

}  // namespace

double layout_loss(const Frame& frame, Position position, Point centroid) {
  const Point expected = cell_center(frame, position);
  const double d = std::hypot((centroid.x - expected.x) / frame.width, (centroid.y - expected.y) / frame.height);
  return std::min(3.0 * d, 1.0);
}

std::vector<double> layout_losses(const SceneVerdict& verdict, const Scene& scene, const Frame& frame) {
  require_one_verdict_per_object(verdict, scene);
  std::vector<double> losses;
  for (std::size_t i = 0; i < scene.objects.size(); ++i) {
    const ObjectVerdict& v = verdict.objects[i];
    losses.push_back(v.found() ? layout_loss(frame, scene.objects[i].position, verdict.blobs[v.blob].centroid) : 1.0);
  }
  return losses;
}

double layout_score(const SceneVerdict& verdict, const Scene& scene, const Frame& frame) {
  const std::vector<double> losses = layout_losses(verdict, scene, frame);
  if (losses.empty()) return 1.0;
  double sum = 0;
  for (double l : losses) sum += l;
  return 1.0 - sum / static_cast<double>(losses.size());
}

int duplicate_count(const SceneVerdict& verdict, const Scene& scene) {
  int count = 0;
  for (int b = 0; b < static_cast<int>(verdict.blobs.size()); ++b) {
    if (is_matched(verdict, b)) continue;
    const Blob& blob = verdict.blobs[b];
    count += std::any_of(scene.objects.begin(), scene.objects.end(),
                         [&blob](const SceneObject& o) { return looks_like(blob, o); });
  }
  return count;
}

bool is_anchored(const SceneVerdict& verdict, const Scene& scene, std::size_t object, const Frame& training) {
  require_one_verdict_per_object(verdict, scene);
  const SceneObject& o = scene.objects.at(object);
  const Point anchor = cell_center(training, o.position);
  const double reach = training.unit() / 6.0;
  const auto near_anchor = [&](const Blob& b) {
    return std::hypot(b.centroid.x - anchor.x, b.centroid.y - anchor.y) <= reach;
  };
  for (int b = 0; b < static_cast<int>(verdict.blobs.size()); ++b) {
    const Blob& blob = verdict.blobs[b];
    if (!near_anchor(blob)) continue;
    if (verdict.objects[object].blob == b) return true;
    if (looks_like(blob, o) && !is_claimed_by_a_look_alike(verdict, scene, b, object)) return true;
  }
  return false;
}

double anchored_fraction(const SceneVerdict& verdict, const Scene& scene, const Frame& training) {
  if (scene.objects.empty()) return 0.0;
  int anchored = 0;
  for (std::size_t i = 0; i < scene.objects.size(); ++i) anchored += is_anchored(verdict, scene, i, training);
  return static_cast<double>(anchored) / static_cast<double>(scene.objects.size());
}

}  // namespace genplug::mini
