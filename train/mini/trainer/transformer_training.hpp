// Phase 2: the FLUX transformer (the plugin's FluxTransformer, preset "mini") by rectified flow on the frozen
// autoencoder's latents of exact renders, conditioned on the prompts through the plugin's text encoders.
#pragma once
#include <cstdint>
#include <filesystem>

#include <genplug/flux/autoencoder.hpp>
#include <genplug/flux/transformer.hpp>

#include "text_encoders.hpp"

namespace genplug::mini {

struct TransformerTraining {
  long steps = 4000;
  int scenes = 8;           // scenes per step, each encoded once ...
  int times_per_scene = 4;  // ... and trained at this many noise levels (batch = scenes x times)
  // Steps each encoded scene is trained in (consecutive ones; must divide `scenes`). Chosen when encoding ran on
  // the training thread (0.38 of a 1.0 s step): reuse 2 halves the encoding at the price of half as many distinct
  // scenes. Encoding now runs on the prefetch thread, where half as much of it keeps it off the step's path.
  int scene_reuse = 2;
  // AdamW peak; warm-up 200 steps, cosine to a tenth. 1.4e-3 beat 7e-4 at 4 000 steps with object weight 8
  // (95.5 % against 92.9 % of objects right, docs/mini-model.md §7).
  double rate = 1.4e-3;
  double ema = 0.999;       // decay of the shipped (averaged) weights
  // Share of scenes trained with the empty prompt, so that one model predicts both the conditional and the
  // unconditional velocity that classifier-free guidance ("true_cfg_scale") combines (Ho & Salimans 2022: 0.1-0.2).
  double uncond_share = 0.1;
  // Extra loss weight of the latent pixels around objects (object_boxes in scene_batches.hpp): each weighs
  // 1 + object_weight, the rest 1. Objects are what the detector scores, yet cover ~10 % of the frame, while the
  // stripes and checkers of the background hold most of the plain mean square error. docs/mini-model.md §7: 0 -> 3
  // took objects right from 1.8 % to 8.9 % at 2 000 steps (with the window T5, 2.7 % -> 34.4 %); 8 drew the
  // shapes better than 3 (kind 22 % against 13 % at 1 000 steps).
  double object_weight = 8;
  // AdamW peak rate of the T5 encoder fine-tuned alongside (same schedule; 0: T5 stays random and frozen).
  double text_rate = 0;
  std::uint64_t seed = 0;
  long report_every = 25;
  long checkpoint_every = 500;
  std::filesystem::path checkpoint_dir;  // EMA weights every checkpoint_every steps
  std::filesystem::path log_csv;
};

// Returns the EMA weights under BFL names (what transformer.safetensors holds). With `t5` (options.text_rate > 0)
// the T5 encoder trains too and the prompts' T5 states come from it; CLIP's pooled vector stays frozen.
flux::TensorMap train_transformer(const flux::Autoencoder& vae, PromptEncoder& text, const TransformerTraining& options,
                                  TrainableT5* t5 = nullptr);

// Fresh weights: the plugin's random init (N(0, 1/fan_in)) with DiT's adaLN-Zero: every modulation and the
// final projection start at zero, so each block starts as the identity and the output as zero.
flux::TensorMap initial_transformer_weights(std::uint64_t seed);

}  // namespace genplug::mini
