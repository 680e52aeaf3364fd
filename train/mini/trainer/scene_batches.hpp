// Training data made on the fly: scenes of the grammar rendered exactly, as the tensors the model consumes.
// Everything is a pure function of the seeds (SplitMix64 streams, no library randomness).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "scene.hpp"

namespace genplug::mini {

// Seeds of the scenes the trainer draws: disjoint from the evaluation seeds (0 .. 2^32) by construction.
inline constexpr std::uint64_t kTrainingSeedBase = std::uint64_t{1} << 40;

// The exact render of the scene of `seed` at width x height, as the autoencoder's input: [3, H, W] in [-1, 1]
// (sRGB-encoded values x 2 - 1, the range decode() returns).
torch::Tensor scene_tensor(std::uint64_t seed, int width, int height);

// Autoencoder batch: per item a scene rendered at a random frame of 64..256 px per side (multiples of 8, any
// aspect) and a crop of crop x crop px from it, so the autoencoder sees objects, edges and stripe widths at
// every scale the 1x..4x renders of issue #14 produce. [count, 3, crop, crop]. A share `object_crops` of the
// crops is centred (within a quarter crop) on one of the scene's objects, the rest lie anywhere: uniform crops
// of a large frame are mostly background, and objects' colours and kinds are what the detector reads.
torch::Tensor autoencoder_batch(std::uint64_t batch_seed, int count, int crop, double object_crops = 0.0);

// Transformer batch: `count` scenes at the training size, [count, 3, S, S], their prompts, and where their
// objects lie at the latent's resolution (object_boxes below), [count, 1, S / factor, S / factor].
struct SceneBatch {
  torch::Tensor images;
  std::vector<std::string> prompts;
  torch::Tensor object_boxes;
};
SceneBatch transformer_batch(std::uint64_t first_seed, int count, int size, int latent_factor);

// 1 at the latent pixels (size / factor per side) whose centre lies within the square of half-width 1.1 R + one
// latent pixel around an object's centre, 0 elsewhere: every kind lies within 1.1 R (scene_geometry.hpp), and the
// extra pixel holds the anti-aliased rim and what the autoencoder spreads of it. [1, size / factor, size / factor].
torch::Tensor object_boxes(const Scene& scene, int size, int latent_factor);

}  // namespace genplug::mini
