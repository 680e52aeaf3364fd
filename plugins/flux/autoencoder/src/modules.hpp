// The BFL autoencoder modules (src/flux/modules/autoencoder.py). Submodules are registered under the BFL
// names, so named_parameters() yields the checkpoint's (unprefixed) BFL keys.
#pragma once
#include <torch/torch.h>

#include <genplug/flux/autoencoder.hpp>

namespace genplug::flux::vae {

// GroupNorm(32, C, eps 1e-6, affine), the only normalisation in the autoencoder.
torch::nn::GroupNorm group_norm(int64_t channels);
torch::Tensor swish(const torch::Tensor& x);

// x + conv2(swish(norm2(conv1(swish(norm1(x)))))), with a 1x1 nin_shortcut on x when channels change.
struct ResnetBlockImpl : torch::nn::Module {
  ResnetBlockImpl(int64_t in_channels, int64_t out_channels);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Conv2d nin_shortcut{nullptr};  // only when in != out
};
TORCH_MODULE(ResnetBlock);

// x + proj_out(attention(q, k, v)) over all pixels, single head, q/k/v/proj_out 1x1 convs.
struct AttnBlockImpl : torch::nn::Module {
  explicit AttnBlockImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x, const AttentionChunking& chunking);

  torch::nn::GroupNorm norm{nullptr};
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
  explicit MidBlockImpl(int64_t channels);
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
  torch::Tensor run_blocks(torch::Tensor h);
};
TORCH_MODULE(Level);

// Image [B, in_channels, H, W] -> moments [B, 2*z, H/f, W/f] (mean, logvar).
struct EncoderImpl : torch::nn::Module {
  explicit EncoderImpl(const AutoencoderConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const AttentionChunking& chunking);

  torch::nn::Conv2d conv_in{nullptr};
  std::vector<Level> down;  // also registered as ModuleList "down"
  MidBlock mid{nullptr};
  torch::nn::GroupNorm norm_out{nullptr};
  torch::nn::Conv2d conv_out{nullptr};
};
TORCH_MODULE(Encoder);

// Unscaled latent [B, z, h, w] -> image [B, out_ch, f*h, f*w]. `up` is indexed by level: the last level
// (lowest resolution) runs first.
struct DecoderImpl : torch::nn::Module {
  explicit DecoderImpl(const AutoencoderConfig& config);
  torch::Tensor forward(const torch::Tensor& z, const AttentionChunking& chunking);

  torch::nn::Conv2d conv_in{nullptr};
  MidBlock mid{nullptr};
  std::vector<Level> up;  // also registered as ModuleList "up"
  torch::nn::GroupNorm norm_out{nullptr};
  torch::nn::Conv2d conv_out{nullptr};
};
TORCH_MODULE(Decoder);

}  // namespace genplug::flux::vae
