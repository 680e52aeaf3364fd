// The FLUX.1 autoencoder (BFL `AutoEncoder`): image [B,3,H,W] in [-1,1] <-> scaled latent [B,z,H/f,W/f],
// f = 2^(len(ch_mult)-1) (8 for FLUX). Exact to the BFL reference; loads BFL or diffusers key names.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

namespace genplug::flux {

// BFL AutoEncoderParams. Everything except the two factors and norm_groups is inferred from checkpoint tensor shapes.
struct AutoencoderConfig {
  int64_t resolution = 256;  // informational only (BFL keeps it; the math does not use it)
  int64_t in_channels = 3;
  int64_t ch = 128;
  int64_t out_ch = 3;
  std::vector<int64_t> ch_mult{1, 2, 4, 4};
  int64_t num_res_blocks = 2;
  int64_t z_channels = 16;
  // GroupNorm groups of every normalisation (diffusers' `norm_num_groups`; BFL fixes 32). Shapes do not show
  // it: a diffusers config.json beside the checkpoint gives it, else 32. At ch 32 the 32 groups hold one
  // channel each, which removes every channel's mean per image; the mini model uses 8 (docs/mini-model.md).
  int64_t norm_groups = 32;
  double scale_factor = 0.3611;
  double shift_factor = 0.1159;

  // Spatial reduction between image and latent: 2^(len(ch_mult)-1).
  int64_t downscale() const { return int64_t{1} << (ch_mult.size() - 1); }

  // FLUX.1 ae.safetensors (dev, schnell, Krea-dev share it).
  static AutoencoderConfig flux() { return AutoencoderConfig{}; }

  // Small config for demos with random weights: same z (16) and factor (8) as FLUX, so latents pack alike.
  static AutoencoderConfig tiny() {
    AutoencoderConfig c;
    c.ch = 32;
    c.ch_mult = {1, 1, 2, 2};
    c.num_res_blocks = 1;
    return c;
  }
};

// Tiled decode for large latents. The decoder's latent-resolution part (conv_in, mid block with its global
// attention) runs untiled; the up levels, where the memory goes, run on tiles of `tile` latent pixels that
// overlap by `overlap`, blended with linear ramps across each overlap. With sync_group_norm, GroupNorm uses
// whole-image statistics gathered in `sync_passes` extra passes over the tiles (each costs about one more
// tiled decode) instead of each tile's own. Deviation from the untiled decode: docs/vae.md.
struct TiledDecode {
  bool enabled = true;       // false: never tile
  int64_t auto_above = 128;  // tile when latent height or width exceeds this (0: always tile when enabled)
  int64_t tile = 64;         // latent pixels per tile side (64 -> 512 image pixels for FLUX)
  int64_t overlap = 16;      // latent pixels shared by neighbouring tiles; must be < tile
  bool sync_group_norm = true;
  int64_t sync_passes = 1;   // >= 1; more passes refine the statistics (upstream layers then use them too)

  bool applies_to(int64_t latent_h, int64_t latent_w) const {
    return enabled && (latent_h > auto_above || latent_w > auto_above) &&
           (latent_h > tile || latent_w > tile);
  }
};

// Memory guard of the mid-block attention (single head over all pixels): queries are processed in chunks
// so that one chunk's score matrix has at most this many elements. The full HW x HW matrix is never built.
struct AttentionChunking {
  int64_t max_score_elements = int64_t{1} << 26;  // 64 Mi scores (256 MB in fp32) per chunk
};

// Checkpoint tensors by name (same type as <genplug/flux/tensor_map.hpp>).
using AutoencoderTensors = std::map<std::string, torch::Tensor>;

class Autoencoder {
 public:
  // Loads a safetensors file. Accepts BFL names (`encoder.down.0.block.0.conv1.weight`, ...) with any prefix
  // in front of `encoder.`/`decoder.` (`ae.`, `vae.`, `first_stage_model.`, ... — tensors outside the
  // autoencoder are ignored) and diffusers AutoencoderKL names (`decoder.up_blocks.0.resnets.0...`). The
  // config is inferred from tensor shapes. scale/shift and norm_groups: those of `factors` when given, else a
  // diffusers AutoencoderKL `config.json` beside the file when there is one (`scaling_factor`, `shift_factor`,
  // `norm_num_groups`; its shapes are then checked too), else the FLUX values. A checkpoint without encoder tensors loads decode-only (encode() then throws). Sharded
  // checkpoints (`*.safetensors.index.json`, folders) work as in genplug::safetensors::Checkpoint.
  // Errors name the file and the tensor.
  static Autoencoder from_checkpoint(const std::filesystem::path& path,
                                     torch::Dtype dtype = torch::kFloat32,
                                     torch::Device device = torch::kCPU,
                                     const std::optional<AutoencoderConfig>& factors = std::nullopt);

  // Same, from tensors already in memory; `source` names them in errors (usually the file path).
  // scale_factor/shift_factor/norm_groups of `factors` are used; its other fields are ignored (shapes decide).
  static Autoencoder from_tensors(const AutoencoderTensors& tensors, const std::string& source,
                                  torch::Dtype dtype = torch::kFloat32,
                                  torch::Device device = torch::kCPU,
                                  const AutoencoderConfig& factors = AutoencoderConfig::flux());

  // Real shapes, random weights (deterministic for a seed on any device): for benchmarks and demos.
  static Autoencoder random(const AutoencoderConfig& config, uint64_t seed,
                            torch::Dtype dtype = torch::kFloat32, torch::Device device = torch::kCPU);

  // Called during a tiled decode after each tile run, with (runs done, runs in all: tiles x (1 + GroupNorm
  // sync passes)). It may throw to stop the decode there — the plugin throws its cancellation — so a large
  // decode stops within one tile's time rather than at the end.
  using TileProgress = std::function<void(int64_t done, int64_t total)>;

  // z: scaled latent [B, z_channels, h, w] (any float dtype/device) -> image [B, out_ch, f*h, f*w], about
  // [-1,1], in the model's dtype on its device. Applies z / scale + shift first; tiles per tiled_decode().
  torch::Tensor decode(const torch::Tensor& z, const TileProgress& progress = {}) const;
  // Decode without tiling, whatever the options say.
  torch::Tensor decode_untiled(const torch::Tensor& z) const;
  // Decode with tiling using `tiling.tile` / `tiling.overlap`, whatever the size.
  torch::Tensor decode_tiled(const torch::Tensor& z, const TiledDecode& tiling, const TileProgress& progress = {}) const;

  // x: image [B, in_channels, H, W] in [-1,1], H and W multiples of f -> (mean - shift) * scale. By tiles
  // (encode_moments_tiled) when tiled_decode() applies to the latent's size, so a 4096² plate fits in memory.
  torch::Tensor encode(const torch::Tensor& x) const;
  // The encoder's raw output [B, 2*z, H/f, W/f] (mean then logvar), for checks.
  torch::Tensor encode_moments(const torch::Tensor& x) const;
  // The moments of a large image by tiles (what encode() uses when tiled_decode() applies to the latent size):
  // tiles of `tiling.tile` latent pixels (downscale() x that in image pixels) overlapping by `tiling.overlap`,
  // each encoded whole — its own GroupNorm statistics and mid-block attention, as diffusers' tiled_encode — and
  // blended linearly over the overlaps. Memory is one tile's activations instead of the image's.
  torch::Tensor encode_moments_tiled(const torch::Tensor& x, const TiledDecode& tiling) const;

  const AutoencoderConfig& config() const;
  bool has_encoder() const;
  torch::Dtype dtype() const;
  torch::Device device() const;

  const TiledDecode& tiled_decode() const;
  void set_tiled_decode(const TiledDecode& tiling);
  const AttentionChunking& attention_chunking() const;
  void set_attention_chunking(const AttentionChunking& chunking);

  // Parameters under the internal (BFL, unprefixed) names.
  AutoencoderTensors state_dict() const;

  // For the project's trainer (train/mini): the same modules with autograd recording — every method above runs
  // without it — and their parameters as live tensors (an optimizer updating them in place changes this
  // autoencoder). x as for encode_moments (no tiling); `latent` is unscaled: what decode() passes to the decoder
  // after z / scale + shift.
  torch::Tensor encode_moments_recording(const torch::Tensor& x) const;
  torch::Tensor decode_unscaled_recording(const torch::Tensor& latent) const;
  std::vector<torch::Tensor> trainable_parameters() const;

  struct Impl;

 private:
  explicit Autoencoder(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace genplug::flux
