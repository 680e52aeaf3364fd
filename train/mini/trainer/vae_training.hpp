// Phase 1: the autoencoder (the plugin's VAE modules, AutoencoderConfig::tiny()) on crops of exact renders.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include <genplug/flux/autoencoder.hpp>

namespace genplug::mini {

struct VaeTraining {
  long steps = 2000;
  int batch = 16;
  int crop = 64;
  double object_crops = 0.0;  // share of crops centred on an object (autoencoder_batch)
  double rate = 1e-3;        // AdamW peak; warm-up 100 steps, cosine to a tenth
  double kl_weight = 1e-6;   // keeps the posterior's variance from collapsing; the latent scale is set after
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
