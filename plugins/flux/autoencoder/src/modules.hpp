// The BFL autoencoder modules (src/flux/modules/autoencoder.py). Submodules are registered under the BFL
// names, so named_parameters() yields the checkpoint's (unprefixed) BFL keys.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/types.h>

#include <genplug/flux/autoencoder.hpp>

namespace genplug::flux::vae {

torch::Tensor swish(const torch::Tensor& x);

// GroupNorm statistics shared by the tiles of a tiled decode. In a recording pass every GroupNorm adds the
// sums of its input over the tile's owned region (tiles partition the image) to a per-layer accumulator;
// with `fixed`, GroupNorms normalise with the statistics accumulated in the previous pass (whole image)
// instead of the tile's own. Layers are identified by call order, which is the same for every tile.
struct GroupNormSync {
  struct Sums {
    torch::Tensor sum, sum_of_squares;  // [B, groups], float64
    double count = 0;
  };
  bool record = false;
  bool fixed = false;
  std::vector<Sums> previous, current;
  size_t next_layer = 0;
  // The tile's owned region, in latent pixels relative to the tile's origin, and the tile's latent size.
  int64_t own_y0 = 0, own_y1 = 0, own_x0 = 0, own_x1 = 0, tile_h = 1, tile_w = 1;

  void begin_pass(bool record_stats, bool use_previous);
  void end_pass();  // current -> previous
  void begin_tile(int64_t y0, int64_t y1, int64_t x0, int64_t x1, int64_t height, int64_t width);
};

// GroupNorm(groups, C, eps 1e-6, affine), the only normalisation in the autoencoder; parameters `weight`,
// `bias`. FLUX and BFL use 32 groups (AutoencoderConfig::norm_groups).
struct GroupNormImpl : torch::nn::Module {
  static constexpr double kEps = 1e-6;
  GroupNormImpl(int64_t channels, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x, GroupNormSync* sync = nullptr);

  int64_t groups;
  torch::Tensor weight, bias;
};
TORCH_MODULE(GroupNorm);

// x + conv2(swish(norm2(conv1(swish(norm1(x)))))), with a 1x1 nin_shortcut on x when channels change.
struct ResnetBlockImpl : torch::nn::Module {
  ResnetBlockImpl(int64_t in_channels, int64_t out_channels, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x, GroupNormSync* sync = nullptr);

  GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Conv2d nin_shortcut{nullptr};  // only when in != out
};
TORCH_MODULE(ResnetBlock);

// x + proj_out(attention(q, k, v)) over all pixels, single head, q/k/v/proj_out 1x1 convs.
struct AttnBlockImpl : torch::nn::Module {
  AttnBlockImpl(int64_t channels, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x, const AttentionChunking& chunking);

  GroupNorm norm{nullptr};
  torch::nn::Conv2d q{nullptr}, k{nullptr}, v{nullptr}, proj_out{nullptr};
};
TORCH_MODULE(AttnBlock);

// Zero-pad right and bottom by one, then 3x3 conv stride 2 without padding (halves H and W).
struct DownsampleImpl : torch::nn::Module {
  explicit DownsampleImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(Downsample);

// Nearest-neighbour x2, then 3x3 conv padding 1.
struct UpsampleImpl : torch::nn::Module {
  explicit UpsampleImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(Upsample);

// block_1 -> attn_1 -> block_2 at the lowest resolution.
struct MidBlockImpl : torch::nn::Module {
  MidBlockImpl(int64_t channels, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x, const AttentionChunking& chunking);

  ResnetBlock block_1{nullptr};
  AttnBlock attn_1{nullptr};
  ResnetBlock block_2{nullptr};
};
TORCH_MODULE(MidBlock);

// One resolution level: `block` (ResnetBlocks) then `downsample` or `upsample` (absent at the ends).
struct LevelImpl : torch::nn::Module {
  torch::nn::ModuleList block;
  Downsample downsample{nullptr};
  Upsample upsample{nullptr};

  LevelImpl() { block = register_module("block", torch::nn::ModuleList()); }
  torch::Tensor run_blocks(torch::Tensor h, GroupNormSync* sync = nullptr);
};
TORCH_MODULE(Level);

// Image [B, in_channels, H, W] -> moments [B, 2*z, H/f, W/f] (mean, logvar).
struct EncoderImpl : torch::nn::Module {
  explicit EncoderImpl(const AutoencoderConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const AttentionChunking& chunking);

  torch::nn::Conv2d conv_in{nullptr};
  std::vector<Level> down;  // also registered as ModuleList "down"
  MidBlock mid{nullptr};
  GroupNorm norm_out{nullptr};
  torch::nn::Conv2d conv_out{nullptr};
};
TORCH_MODULE(Encoder);

// Unscaled latent [B, z, h, w] -> image [B, out_ch, f*h, f*w]. `up` is indexed by level: the last level
// (lowest resolution) runs first.
struct DecoderImpl : torch::nn::Module {
  explicit DecoderImpl(const AutoencoderConfig& config);
  torch::Tensor forward(const torch::Tensor& z, const AttentionChunking& chunking);
  // The two halves of forward: conv_in + mid block at latent resolution (global attention), then the
  // up levels and output head (where almost all memory goes). Tiled decode tiles only the second.
  torch::Tensor forward_latent_part(const torch::Tensor& z, const AttentionChunking& chunking);
  torch::Tensor forward_upsampling_part(torch::Tensor h, GroupNormSync* sync = nullptr);

  torch::nn::Conv2d conv_in{nullptr};
  MidBlock mid{nullptr};
  std::vector<Level> up;  // also registered as ModuleList "up"
  GroupNorm norm_out{nullptr};
  torch::nn::Conv2d conv_out{nullptr};
};
TORCH_MODULE(Decoder);

}  // namespace genplug::flux::vae
