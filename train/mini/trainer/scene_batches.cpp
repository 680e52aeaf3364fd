#include "scene_batches.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>

#include "rng.hpp"
#include "scene.hpp"
#include "scene_geometry.hpp"
#include "scene_render.hpp"
#include "scene_sampler.hpp"

namespace genplug::mini {

torch::Tensor scene_tensor(std::uint64_t seed, int width, int height) {
  const Image image = render_scene(sample_scene(seed), width, height);
  torch::Tensor t = torch::empty({3, height, width}, torch::kFloat32);
  std::memcpy(t.data_ptr<float>(), image.planar.data(), image.planar.size() * sizeof(float));
  return t * 2.0 - 1.0;
}

namespace {

// Top-left corner of a crop x crop window in `frame` centred near one of the scene's objects: its cell centre
// moved by up to a quarter crop each way, the window then clamped into the frame.
std::pair<int, int> object_crop_corner(SplitMix64& rng, const Scene& scene, const Frame& frame, int crop) {
  const SceneObject& object = scene.objects[rng.below(std::uint32_t(scene.objects.size()))];
  const Point centre = cell_center(frame, object.position);
  const int jitter = crop / 4;
  const int cx = int(centre.x) + int(rng.below(std::uint32_t(2 * jitter + 1))) - jitter;
  const int cy = int(centre.y) + int(rng.below(std::uint32_t(2 * jitter + 1))) - jitter;
  return {std::clamp(cx - crop / 2, 0, frame.width - crop), std::clamp(cy - crop / 2, 0, frame.height - crop)};
}

}  // namespace

torch::Tensor autoencoder_batch(std::uint64_t batch_seed, int count, int crop, double object_crops) {
  SplitMix64 rng(batch_seed);
  std::vector<torch::Tensor> items;
  for (int i = 0; i < count; ++i) {
    const std::uint64_t seed = kTrainingSeedBase + rng.next() % (std::uint64_t{1} << 39);
    const int width = 8 * (8 + int(rng.below(25))), height = 8 * (8 + int(rng.below(25)));  // 64 .. 256
    int x = int(rng.below(std::uint32_t(width - crop + 1))), y = int(rng.below(std::uint32_t(height - crop + 1)));
    if (object_crops > 0.0 && double(rng.next() >> 11) * 0x1.0p-53 < object_crops) {
      const Scene scene = sample_scene(seed);
      if (!scene.objects.empty()) std::tie(x, y) = object_crop_corner(rng, scene, Frame{width, height}, crop);
    }
    items.push_back(scene_tensor(seed, width, height).narrow(1, y, crop).narrow(2, x, crop));
  }
  return torch::stack(items);
}

torch::Tensor object_boxes(const Scene& scene, int size, int latent_factor) {
  const Frame frame{size, size};
  const int cells = size / latent_factor;
  const double half_width = 1.1 * object_radius(frame) + latent_factor;
  torch::Tensor boxes = torch::zeros({1, cells, cells}, torch::kFloat32);
  auto at = boxes.accessor<float, 3>();
  for (const SceneObject& object : scene.objects) {
    const Point centre = cell_center(frame, object.position);
    for (int row = 0; row < cells; ++row)
      for (int column = 0; column < cells; ++column) {
        const double x = (column + 0.5) * latent_factor, y = (row + 0.5) * latent_factor;
        if (std::abs(x - centre.x) <= half_width && std::abs(y - centre.y) <= half_width) at[0][row][column] = 1;
      }
  }
  return boxes;
}

SceneBatch transformer_batch(std::uint64_t first_seed, int count, int size, int latent_factor) {
  SceneBatch batch;
  std::vector<torch::Tensor> images, boxes;
  for (int i = 0; i < count; ++i) {
    const std::uint64_t seed = first_seed + std::uint64_t(i);
    const Scene scene = sample_scene(seed);
    images.push_back(scene_tensor(seed, size, size));
    batch.prompts.push_back(prompt_of(scene));
    boxes.push_back(object_boxes(scene, size, latent_factor));
  }
  batch.images = torch::stack(images);
  batch.object_boxes = torch::stack(boxes);
  return batch;
}

}  // namespace genplug::mini
