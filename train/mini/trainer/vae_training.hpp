// Phase 1: the autoencoder (the plugin's VAE modules, AutoencoderConfig::tiny()) on crops of exact renders.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include <genplug/flux/autoencoder.hpp>

namespace genplug::mini {

struct VaeTraining {
  long steps = 1500;
  int batch = 16;
  int crop = 64;
  double object_crops = 0.75;  // share of crops centred on an object (autoencoder_batch)
  // The decoder is trained on mean + posterior_noise * std * N(0, 1). 1: the VAE's sampled posterior. The
  // transformer is trained on, and inference decodes, the mean alone, so less noise costs nothing there.
  double posterior_noise = 0.0;
  // GroupNorm groups (AutoencoderConfig::norm_groups). tiny()'s 32 at ch 32 is one channel per group: every
  // normalisation then removes each channel's mean over the image, and flat colours must be smuggled through
  // the border padding. 8 gives 4 channels a group, FLUX's ratio (128 / 32).
  int64_t norm_groups = 8;
  double rate = 1e-3;        // AdamW peak; warm-up 100 steps, cosine to a tenth
  double kl_weight = 1e-6;   // its mean² part keeps the latent bounded; the scale is set after (latent_factors)
  std::uint64_t seed = 0;
  long report_every = 50;
  std::filesystem::path log_csv;  // step, loss per report
};

// Trains from random weights (seeded); its scale/shift factors are still tiny()'s: see latent_factors.
flux::Autoencoder train_autoencoder(const VaeTraining& options);

// scale_factor / shift_factor as diffusers computes them for a new VAE: the latent mean's mean and 1 / std
// over `count` training-size renders, so the transformer sees latents of unit variance.
flux::AutoencoderConfig latent_factors(const flux::Autoencoder& vae, int count, int size);

}  // namespace genplug::mini
