// BFL autoencoder modules (see modules.hpp; math in the reference notes, flux.md section 6).
#include "modules.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <genplug/flux/autoencoder_attention.hpp>
#include <genplug/flux/float32_at_least.hpp>
#include <torch/nn/functional/upsampling.h>

namespace genplug::flux {

torch::Tensor pixel_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              const AttentionChunking& chunking) {
  TORCH_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3, "pixel_attention: q, k, v must be [B, N, C]");
  const int64_t batch = q.size(0), queries = q.size(1), keys = k.size(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(2)));
  const auto kt = k.transpose(1, 2);
  auto attend = [&](const torch::Tensor& q_rows) {
    return torch::matmul(torch::softmax(torch::matmul(q_rows, kt) * scale, -1), v);
  };
  const int64_t budget = std::max<int64_t>(1, chunking.max_score_elements);
  const int64_t rows = std::max<int64_t>(1, budget / std::max<int64_t>(1, batch * keys));
  if (rows >= queries) return attend(q);
  auto out = torch::empty({batch, queries, v.size(2)}, v.options());
  for (int64_t start = 0; start < queries; start += rows) {
    const int64_t end = std::min(queries, start + rows);
    out.narrow(1, start, end - start).copy_(attend(q.narrow(1, start, end - start)));
  }
  return out;
}

namespace vae {
namespace {

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding));
}

GroupNorm group_norm(int64_t channels, int64_t groups) { return GroupNorm(channels, groups); }

}  // namespace

torch::Tensor swish(const torch::Tensor& x) { return x * torch::sigmoid(x); }

void GroupNormSync::begin_pass(bool record_stats, bool use_previous) {
  record = record_stats;
  fixed = use_previous;
  current.clear();
  next_layer = 0;
}

void GroupNormSync::end_pass() {
  previous = std::move(current);
  current.clear();
}

void GroupNormSync::begin_tile(int64_t y0, int64_t y1, int64_t x0, int64_t x1, int64_t height, int64_t width) {
  own_y0 = y0, own_y1 = y1, own_x0 = x0, own_x1 = x1, tile_h = height, tile_w = width;
  next_layer = 0;
}

GroupNormImpl::GroupNormImpl(int64_t channels, int64_t groups) : groups(groups) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
}

torch::Tensor GroupNormImpl::forward(const torch::Tensor& x, GroupNormSync* sync) {
  if (!sync || (!sync->record && !sync->fixed)) return torch::group_norm(x, groups, weight, bias, kEps);
  const size_t layer = sync->next_layer++;
  const int64_t b = x.size(0), c = x.size(1), height = x.size(2), width = x.size(3);
  if (sync->record) {
    // Layers run at (latent size) x 2^k: the owned region scales with them.
    const int64_t sy = height / sync->tile_h, sx = width / sync->tile_w;
    const auto owned = x.narrow(2, sync->own_y0 * sy, (sync->own_y1 - sync->own_y0) * sy)
                           .narrow(3, sync->own_x0 * sx, (sync->own_x1 - sync->own_x0) * sx)
                           .to(torch::kDouble)
                           .reshape({b, groups, -1});
    if (sync->current.size() <= layer) sync->current.resize(layer + 1);
    auto& sums = sync->current[layer];
    const auto sum = owned.sum(-1), squares = owned.pow(2).sum(-1);
    sums.sum = sums.sum.defined() ? sums.sum + sum : sum;
    sums.sum_of_squares = sums.sum_of_squares.defined() ? sums.sum_of_squares + squares : squares;
    sums.count += static_cast<double>(owned.size(2));
  }
  if (!sync->fixed) return torch::group_norm(x, groups, weight, bias, kEps);
  TORCH_CHECK(layer < sync->previous.size() && sync->previous[layer].count > 0,
              "GroupNormSync: no statistics recorded for GroupNorm layer ", layer);
  const auto& sums = sync->previous[layer];
  const auto mean = sums.sum / sums.count;
  const auto variance = (sums.sum_of_squares / sums.count - mean * mean).clamp_min(0);
  const auto compute = float32_at_least(x.scalar_type());  // as torch's group_norm kernels do for half types
  const auto inv_std = torch::rsqrt(variance + kEps).to(compute).unsqueeze(-1);
  const auto normalized = (x.to(compute).reshape({b, groups, -1}) - mean.to(compute).unsqueeze(-1)) * inv_std;
  return normalized.to(x.scalar_type()).reshape({b, c, height, width}) * weight.view({1, c, 1, 1}) +
         bias.view({1, c, 1, 1});
}


ResnetBlockImpl::ResnetBlockImpl(int64_t in_channels, int64_t out_channels, int64_t groups) {
  norm1 = register_module("norm1", group_norm(in_channels, groups));
  conv1 = register_module("conv1", conv(in_channels, out_channels, 3, 1, 1));
  norm2 = register_module("norm2", group_norm(out_channels, groups));
  conv2 = register_module("conv2", conv(out_channels, out_channels, 3, 1, 1));
  if (in_channels != out_channels)
    nin_shortcut = register_module("nin_shortcut", conv(in_channels, out_channels, 1, 1, 0));
}

torch::Tensor ResnetBlockImpl::forward(const torch::Tensor& x, GroupNormSync* sync) {
  auto h = conv1(swish(norm1(x, sync)));
  h = conv2(swish(norm2(h, sync)));
  return (nin_shortcut ? nin_shortcut(x) : x) + h;
}

AttnBlockImpl::AttnBlockImpl(int64_t channels, int64_t groups) {
  norm = register_module("norm", group_norm(channels, groups));
  q = register_module("q", conv(channels, channels, 1, 1, 0));
  k = register_module("k", conv(channels, channels, 1, 1, 0));
  v = register_module("v", conv(channels, channels, 1, 1, 0));
  proj_out = register_module("proj_out", conv(channels, channels, 1, 1, 0));
}

torch::Tensor AttnBlockImpl::forward(const torch::Tensor& x, const AttentionChunking& chunking) {
  const auto h = norm(x);
  const int64_t b = x.size(0), c = x.size(1), height = x.size(2), width = x.size(3);
  // b c h w -> b (h w) c
  auto pixels = [&](const torch::Tensor& t) { return t.reshape({b, c, height * width}).transpose(1, 2); };
  auto attended = pixel_attention(pixels(q(h)), pixels(k(h)), pixels(v(h)), chunking);
  attended = attended.transpose(1, 2).reshape({b, c, height, width});
  return x + proj_out(attended);
}

DownsampleImpl::DownsampleImpl(int64_t channels) {
  conv = register_module("conv", vae::conv(channels, channels, 3, 2, 0));
}

torch::Tensor DownsampleImpl::forward(const torch::Tensor& x) {
  // Asymmetric: (left 0, right 1, top 0, bottom 1) zeros, as BFL (torch convs cannot pad asymmetrically).
  return conv(torch::constant_pad_nd(x, {0, 1, 0, 1}, 0));
}

UpsampleImpl::UpsampleImpl(int64_t channels) {
  conv = register_module("conv", vae::conv(channels, channels, 3, 1, 1));
}

torch::Tensor UpsampleImpl::forward(const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  const auto doubled = F::interpolate(
      x, F::InterpolateFuncOptions().size(std::vector<int64_t>{2 * x.size(2), 2 * x.size(3)}).mode(torch::kNearest));
  return conv(doubled);
}

MidBlockImpl::MidBlockImpl(int64_t channels, int64_t groups) {
  block_1 = register_module("block_1", ResnetBlock(channels, channels, groups));
  attn_1 = register_module("attn_1", AttnBlock(channels, groups));
  block_2 = register_module("block_2", ResnetBlock(channels, channels, groups));
}

torch::Tensor MidBlockImpl::forward(const torch::Tensor& x, const AttentionChunking& chunking) {
  return block_2(attn_1(block_1(x), chunking));
}

torch::Tensor LevelImpl::run_blocks(torch::Tensor h, GroupNormSync* sync) {
  for (const auto& module : *block) h = module->as<ResnetBlockImpl>()->forward(h, sync);
  return h;
}

namespace {

void check_config(const AutoencoderConfig& c) {
  if (c.ch_mult.empty()) throw std::invalid_argument("AutoencoderConfig: ch_mult is empty");
  if (c.norm_groups < 1) throw std::invalid_argument("AutoencoderConfig: norm_groups must be >= 1");
  for (int64_t m : c.ch_mult)
    if (m <= 0 || (c.ch * m) % c.norm_groups != 0)
      throw std::invalid_argument("AutoencoderConfig: every ch*ch_mult must be a positive multiple of norm_groups (" +
                                  std::to_string(c.norm_groups) + "); got ch " + std::to_string(c.ch) + " x " +
                                  std::to_string(m));
  if (c.num_res_blocks < 1 || c.z_channels < 1 || c.in_channels < 1 || c.out_ch < 1)
    throw std::invalid_argument("AutoencoderConfig: num_res_blocks, z_channels and channel counts must be >= 1");
}

}  // namespace

EncoderImpl::EncoderImpl(const AutoencoderConfig& c) {
  check_config(c);
  const int64_t levels = static_cast<int64_t>(c.ch_mult.size());
  conv_in = register_module("conv_in", conv(c.in_channels, c.ch, 3, 1, 1));
  auto list = register_module("down", torch::nn::ModuleList());
  int64_t channels = c.ch;  // ch * in_ch_mult[l], in_ch_mult = (1,) + ch_mult
  for (int64_t l = 0; l < levels; ++l) {
    Level level;
    const int64_t out = c.ch * c.ch_mult[l];
    for (int64_t j = 0; j < c.num_res_blocks; ++j) {
      level->block->push_back(ResnetBlock(channels, out, c.norm_groups));
      channels = out;
    }
    if (l != levels - 1) level->downsample = level->register_module("downsample", Downsample(channels));
    list->push_back(level);
    down.push_back(level);
  }
  mid = register_module("mid", MidBlock(channels, c.norm_groups));
  norm_out = register_module("norm_out", group_norm(channels, c.norm_groups));
  conv_out = register_module("conv_out", conv(channels, 2 * c.z_channels, 3, 1, 1));
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& x, const AttentionChunking& chunking) {
  auto h = conv_in(x);
  for (auto& level : down) {
    h = level->run_blocks(h);
    if (level->downsample) h = level->downsample(h);
  }
  h = mid(h, chunking);
  return conv_out(swish(norm_out(h)));
}

DecoderImpl::DecoderImpl(const AutoencoderConfig& c) {
  check_config(c);
  const int64_t levels = static_cast<int64_t>(c.ch_mult.size());
  int64_t channels = c.ch * c.ch_mult.back();
  conv_in = register_module("conv_in", conv(c.z_channels, channels, 3, 1, 1));
  mid = register_module("mid", MidBlock(channels, c.norm_groups));
  // Built lowest resolution first (execution order), stored by level index like BFL's `up.insert(0, ...)`.
  up.resize(levels);
  for (int64_t l = levels - 1; l >= 0; --l) {
    Level level;
    const int64_t out = c.ch * c.ch_mult[l];
    for (int64_t j = 0; j < c.num_res_blocks + 1; ++j) {
      level->block->push_back(ResnetBlock(channels, out, c.norm_groups));
      channels = out;
    }
    if (l != 0) level->upsample = level->register_module("upsample", Upsample(channels));
    up[l] = level;
  }
  auto list = register_module("up", torch::nn::ModuleList());
  for (auto& level : up) list->push_back(level);
  norm_out = register_module("norm_out", group_norm(channels, c.norm_groups));
  conv_out = register_module("conv_out", conv(channels, c.out_ch, 3, 1, 1));
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& z, const AttentionChunking& chunking) {
  return forward_upsampling_part(forward_latent_part(z, chunking));
}

torch::Tensor DecoderImpl::forward_latent_part(const torch::Tensor& z, const AttentionChunking& chunking) {
  return mid(conv_in(z), chunking);
}

torch::Tensor DecoderImpl::forward_upsampling_part(torch::Tensor h, GroupNormSync* sync) {
  for (auto it = up.rbegin(); it != up.rend(); ++it) {
    h = (*it)->run_blocks(h, sync);
    if ((*it)->upsample) h = (*it)->upsample(h);
  }
  return conv_out(swish(norm_out(h, sync)));
}

}  // namespace vae
}  // namespace genplug::flux
