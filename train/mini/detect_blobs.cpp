#include "detect_blobs.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "detect_labels.hpp"
#include "scene_render.hpp"

namespace genplug::mini {
namespace {

constexpr double smallest_kind_area = 1.815;  // triangle, in R^2
constexpr double largest_kind_area = 3.1416;  // circle

// Pixel indices of the 8-connected component of start's label that contains `start`; marks them visited.
std::vector<int> flood(const std::vector<std::int8_t>& labels, std::vector<bool>& visited, int width, int start) {
  const int height = static_cast<int>(labels.size()) / width;
  std::vector<int> component, stack{start};
  visited[start] = true;
  while (!stack.empty()) {
    const int at = stack.back();
    stack.pop_back();
    component.push_back(at);
    const int row = at / width, column = at % width;
    for (int dr = -1; dr <= 1; ++dr)
      for (int dc = -1; dc <= 1; ++dc) {
        const int r = row + dr, c = column + dc;
        if (r < 0 || r >= height || c < 0 || c >= width) continue;
        const int next = r * width + c;
        if (!visited[next] && labels[next] == labels[start]) visited[next] = true, stack.push_back(next);
      }
  }
  return component;
}

// Every 8-connected component of equal object-colour labels, in scan order of their first pixel.
std::vector<std::vector<int>> object_components(const std::vector<std::int8_t>& labels, int width) {
  std::vector<bool> visited(labels.size(), false);
  std::vector<std::vector<int>> components;
  for (int start = 0; start < static_cast<int>(labels.size()); ++start)
    if (!visited[start] && labels[start] >= 0) components.push_back(flood(labels, visited, width, start));
  return components;
}

// Index of the component each pixel belongs to, -1 for none.
std::vector<int> component_of_pixel(const std::vector<std::vector<int>>& components, std::size_t pixels) {
  std::vector<int> owner(pixels, -1);
  for (std::size_t i = 0; i < components.size(); ++i)
    for (int p : components[i]) owner[p] = static_cast<int>(i);
  return owner;
}

// Whether component i touches a larger component (of another colour: equal colours would be one component).
// Objects never touch (they keep >= 0.047 u apart), so such a component is the anti-aliased rim of the larger
// one, where the mix of its colour and the background resembles a third colour (yellow over navy: orange).
bool is_rim(const std::vector<std::vector<int>>& components, const std::vector<int>& owner, std::size_t i,
            int width, int height) {
  for (int p : components[i])
    for (int dr = -1; dr <= 1; ++dr)
      for (int dc = -1; dc <= 1; ++dc) {
        const int r = p / width + dr, c = p % width + dc;
        if (r < 0 || r >= height || c < 0 || c >= width) continue;
        const int other = owner[r * width + c];
        if (other >= 0 && other != static_cast<int>(i) && components[other].size() > components[i].size())
          return true;
      }
  return false;
}

// Coverage of pixel (row, column) by the shape, 4 x 4 sub-pixel samples as in render_scene.
double coverage(Kind kind, Point center, double radius, int row, int column) {
  constexpr int n = render_supersampling;
  int inside = 0;
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < n; ++b)
      inside += shape_covers(kind, (column + (b + 0.5) / n - center.x) / radius,
                             (row + (a + 0.5) / n - center.y) / radius);
  return inside / double(n * n);
}

// Centroid weighted by estimated coverage over the component and the background or unknown pixels touching it
// (a mixed edge pixel can be far from both colours, so unknown): sub-pixel exact for anti-aliased edges, where
// the plain mean of the component's pixel centres is off by up to half a pixel (enough to mistake a 9-pixel
// disc for a square).
Point soft_centroid(const Image& image, const Background& background, const std::vector<std::int8_t>& labels,
                    const std::vector<int>& pixels, Colour colour) {
  std::vector<int> support = pixels;
  std::vector<bool> seen(labels.size(), false);
  for (int p : pixels) seen[p] = true;
  for (int p : pixels)
    for (int dr = -1; dr <= 1; ++dr)
      for (int dc = -1; dc <= 1; ++dc) {
        const int r = p / image.width + dr, c = p % image.width + dc;
        if (r < 0 || r >= image.height || c < 0 || c >= image.width) continue;
        const int q = r * image.width + c;
        if (!seen[q] && labels[q] < 0) seen[q] = true, support.push_back(q);  // background or unknown
      }
  double x = 0, y = 0, weight = 0;
  for (int p : support) {
    const int r = p / image.width, c = p % image.width;
    const double w = coverage_estimate({image.at(0, r, c), image.at(1, r, c), image.at(2, r, c)}, colour, background);
    x += w * (c + 0.5), y += w * (r + 0.5), weight += w;
  }
  return {x / weight, y / weight};
}

PixelMask mask_of(const std::vector<int>& pixels, int width, int height) {
  PixelMask mask{width, height, std::vector<bool>(static_cast<std::size_t>(width) * height, false),
                 static_cast<double>(pixels.size())};
  for (int p : pixels) mask.inside[p] = true;
  return mask;
}

// The best kind and its score over every template scale; no kind below min_kind_score.
std::pair<std::optional<Kind>, double> classify(const PixelMask& mask, Point center, double radius) {
  int best = -1;
  double best_score = 0;
  for (int k = 0; k < kind_count; ++k)
    for (double scale : template_scales) {
      const double score = template_iou(mask, Kind(k), center, radius * scale) - (scale != 1.0) * off_scale_penalty;
      if (score > best_score) best = k, best_score = score;
    }
  if (best < 0 || best_score < min_kind_score) return {std::nullopt, best_score};
  return {Kind(best), best_score};
}

}  // namespace

double template_iou(const PixelMask& mask, Kind kind, Point center, double radius) {
  const int width = mask.width, height = mask.height;
  const double reach = 1.2 * radius + 1;
  const int row0 = std::max(0, int(std::floor(center.y - reach))), row1 = std::min(height - 1, int(center.y + reach));
  const int col0 = std::max(0, int(std::floor(center.x - reach))), col1 = std::min(width - 1, int(center.x + reach));
  double both = 0, template_only = 0, mask_only = 0, mask_in_window = 0;
  for (int row = row0; row <= row1; ++row)
    for (int column = col0; column <= col1; ++column) {
      const bool in_mask = mask.inside[static_cast<std::size_t>(row) * width + column];
      mask_in_window += in_mask;
      const double t = coverage(kind, center, radius, row, column);
      if (std::abs(t - 0.5) < edge_band) continue;  // an edge pixel: either label is right
      const bool in_template = t > 0.5;
      both += in_mask && in_template;
      template_only += !in_mask && in_template;
      mask_only += in_mask && !in_template;
    }
  const double either = both + template_only + mask_only + (mask.area - mask_in_window);
  return either > 0 ? both / either : 0.0;
}

std::vector<Blob> find_blobs(const Image& image, const Background& background) {
  const std::vector<std::int8_t> labels = label_pixels(image, background);
  const Frame frame{image.width, image.height};
  const double radius = object_radius(frame);
  const double min_area = min_blob_area_fraction * smallest_kind_area * radius * radius;
  const double max_area = max_blob_area_factor * largest_kind_area * radius * radius;
  const std::vector<std::vector<int>> components = object_components(labels, image.width);
  const std::vector<int> owner = component_of_pixel(components, labels.size());
  std::vector<Blob> blobs;
  for (std::size_t i = 0; i < components.size(); ++i) {
    const std::vector<int>& pixels = components[i];
    if (pixels.size() < min_area || pixels.size() > max_area) continue;
    if (is_rim(components, owner, i, image.width, image.height)) continue;
    Blob blob;
    blob.colour = Colour(labels[pixels.front()]);
    blob.centroid = soft_centroid(image, background, labels, pixels, blob.colour);
    blob.position = cell_at(frame, blob.centroid);
    blob.area = static_cast<double>(pixels.size());
    std::tie(blob.kind, blob.kind_score) = classify(mask_of(pixels, image.width, image.height), blob.centroid, radius);
    blobs.push_back(blob);
  }
  std::stable_sort(blobs.begin(), blobs.end(), [](const Blob& a, const Blob& b) {
    return a.position != b.position ? a.position < b.position : a.colour < b.colour;
  });
  return blobs;
}

}  // namespace genplug::mini
