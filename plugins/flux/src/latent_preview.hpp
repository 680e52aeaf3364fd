// The quick picture of a FLUX latent behind GENPLUG_EXT_MODEL_PREVIEW (model.h): for watching a render.
#pragma once
#include <cstdint>

#include <torch/types.h>

#include <genplug/flux/autoencoder.hpp>

namespace genplug::flux {

// The size of a preview of a height x width image within max_side: the image shrunk by one factor
// s = min(1, max_side / max(height, width)), each side rounded to the nearest pixel (at least 1).
struct PreviewSize {
  int64_t height, width;
};
PreviewSize preview_size(int64_t height, int64_t width, int64_t max_side);

// An approximation of vae.decode(z) shrunk to preview_size(...): z [1, C, h, w] (unpacked, scaled) is averaged
// over k x k latent pixels, k the smallest integer that brings the decoded side within max_side, decoded
// untiled, and resized (area) to the exact preview size. Costs one decode at about the preview's size instead
// of the image's; the averaging blurs detail finer than k latent pixels, which a preview can spare.
// Returns the decoder's output (about [-1, 1]) in the VAE's dtype on its device.
torch::Tensor preview_decode(const Autoencoder& vae, const torch::Tensor& z, int64_t height, int64_t width,
                             int64_t max_side);

}  // namespace genplug::flux
