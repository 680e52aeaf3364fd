// FLUX transformer hyper-parameters (BFL FluxParams). Plain data: no torch here.
#pragma once
#include <cstdint>
#include <vector>

namespace genplug::flux {

struct FluxConfig {
  int64_t in_channels = 64;      // packed latent channels (16 VAE channels x 2 x 2)
  int64_t out_channels = 64;
  int64_t vec_in_dim = 768;      // CLIP pooled
  int64_t context_in_dim = 4096; // T5 states
  int64_t hidden_size = 3072;
  double mlp_ratio = 4.0;
  int64_t num_heads = 24;
  int64_t depth = 19;            // double-stream blocks
  int64_t depth_single_blocks = 38;
  std::vector<int64_t> axes_dim{16, 56, 56};
  double theta = 10000.0;
  bool qkv_bias = true;
  bool guidance_embed = true;    // dev / Krea-dev: true; schnell: false

  int64_t head_dim() const { return num_heads > 0 ? hidden_size / num_heads : 0; }
  int64_t mlp_hidden() const { return static_cast<int64_t>(hidden_size * mlp_ratio); }

  static FluxConfig dev() { return FluxConfig{}; }
  static FluxConfig schnell() {
    FluxConfig c;
    c.guidance_embed = false;
    return c;
  }
};

}  // namespace genplug::flux
