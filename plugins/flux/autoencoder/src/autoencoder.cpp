// Autoencoder: scaling, encode/decode, tiled decode with linear blending, random weights.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include <ATen/CPUGeneratorImpl.h>

#include <genplug/flux/autoencoder_tiling.hpp>

#include "autoencoder_impl.hpp"

namespace genplug::flux {

std::vector<std::pair<std::string, torch::Tensor>> Autoencoder::Impl::named_parameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  auto add = [&out](const std::string& root, const torch::nn::Module& module) {
    for (const auto& item : module.named_parameters(true)) out.emplace_back(root + item.key(), item.value());
  };
  if (encoder) add("encoder.", *encoder);
  add("decoder.", *decoder);
  return out;
}

namespace vae {

std::shared_ptr<Autoencoder::Impl> make_impl(const AutoencoderConfig& config, bool with_encoder) {
  auto impl = std::make_shared<Autoencoder::Impl>();
  impl->config = config;
  if (with_encoder) impl->encoder = Encoder(config);
  impl->decoder = Decoder(config);
  if (impl->encoder) impl->encoder->eval();
  impl->decoder->eval();
  return impl;
}

void place(Autoencoder::Impl& impl) {
  if (impl.encoder) impl.encoder->to(impl.device, impl.dtype);
  impl.decoder->to(impl.device, impl.dtype);
}

}  // namespace vae

namespace {

void check_image_like(const torch::Tensor& t, int64_t channels, const char* what) {
  if (!t.defined() || t.dim() != 4 || t.size(1) != channels || !t.is_floating_point())
    throw std::invalid_argument(std::string("Autoencoder::") + what + ": expected a floating tensor [B, " +
                                std::to_string(channels) + ", H, W], got " +
                                (t.defined() ? shape_text(t.sizes()) + " " + std::string(t.dtype().name())
                                             : std::string("an undefined tensor")));
}

torch::Tensor axis_weights(int64_t length, int64_t ramp, bool neighbour_before, bool neighbour_after) {
  return torch::tensor(blend_ramp(length, ramp, neighbour_before, neighbour_after), torch::kFloat);
}

// Conv weights ~ N(0, 1/fan_in), conv biases ~ N(0, 0.02^2), GroupNorm weight 1 and bias 0.
void randomize(const std::vector<std::pair<std::string, torch::Tensor>>& parameters, uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  torch::NoGradGuard no_grad;
  for (const auto& [name, parameter] : parameters) {
    const bool is_norm = name.find("norm") != std::string::npos;
    const bool is_weight = name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0;
    torch::Tensor value;
    if (is_norm) {
      value = is_weight ? torch::ones(parameter.sizes()) : torch::zeros(parameter.sizes());
    } else if (is_weight) {
      const double fan_in = static_cast<double>(parameter.numel() / parameter.size(0));
      value = at::randn(parameter.sizes(), generator, torch::kFloat) / std::sqrt(fan_in);
    } else {
      value = at::randn(parameter.sizes(), generator, torch::kFloat) * 0.02;
    }
    parameter.copy_(value);
  }
}

}  // namespace

Autoencoder::Autoencoder(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Autoencoder Autoencoder::random(const AutoencoderConfig& config, uint64_t seed, torch::Dtype dtype,
                                torch::Device device) {
  auto impl = vae::make_impl(config, true);
  randomize(impl->named_parameters(), seed);  // on the CPU in float32: same weights on every device
  impl->dtype = dtype;
  impl->device = device;
  vae::place(*impl);
  return Autoencoder(std::move(impl));
}

torch::Tensor Autoencoder::decode_untiled(const torch::Tensor& z) const {
  check_image_like(z, impl_->config.z_channels, "decode");
  torch::NoGradGuard no_grad;
  const auto latent = z.to(impl_->device, impl_->dtype) / impl_->config.scale_factor + impl_->config.shift_factor;
  return impl_->decoder->forward(latent, impl_->chunking);
}

torch::Tensor Autoencoder::decode_tiled(const torch::Tensor& z, const TiledDecode& tiling,
                                       const TileProgress& progress) const {
  check_image_like(z, impl_->config.z_channels, "decode");
  if (tiling.tile < 1 || tiling.overlap < 0 || tiling.overlap >= tiling.tile || tiling.sync_passes < 1)
    throw std::invalid_argument("Autoencoder: tiled decode needs tile >= 1, 0 <= overlap < tile and sync_passes >= 1 "
                                "(tile " + std::to_string(tiling.tile) + ", overlap " + std::to_string(tiling.overlap) +
                                ", sync_passes " + std::to_string(tiling.sync_passes) + ")");
  torch::NoGradGuard no_grad;
  const auto latent = z.to(impl_->device, impl_->dtype) / impl_->config.scale_factor + impl_->config.shift_factor;
  // conv_in and the mid block (with its global attention) run untiled at latent resolution: they are cheap
  // there, and tiling them would change the attention's context. The up levels are tiled.
  const auto features = impl_->decoder->forward_latent_part(latent, impl_->chunking);
  const int64_t f = impl_->config.downscale(), h = latent.size(2), w = latent.size(3);
  const AxisTiles rows(h, std::min(tiling.tile, h), tiling.overlap), cols(w, std::min(tiling.tile, w), tiling.overlap);
  const auto tiles = static_cast<int64_t>(rows.starts.size() * cols.starts.size());
  const bool synced = tiling.sync_group_norm && tiles > 1;
  const int64_t runs = tiles * (synced ? 1 + tiling.sync_passes : 1);
  int64_t runs_done = 0;
  auto run_tile = [&](size_t i, size_t j, vae::GroupNormSync* sync) {
    if (sync) sync->begin_tile(rows.own_begin(i), rows.own_end(i), cols.own_begin(j), cols.own_end(j), rows.tile, cols.tile);
    auto piece = impl_->decoder->forward_upsampling_part(
        features.narrow(2, rows.starts[i], rows.tile).narrow(3, cols.starts[j], cols.tile), sync);
    if (progress) progress(++runs_done, runs);
    return piece;
  };

  // Whole-image GroupNorm statistics: pass 1 records with per-tile normalisation, later passes normalise
  // with the previous pass's statistics while recording again.
  vae::GroupNormSync sync;
  for (int64_t pass = 0; synced && pass < tiling.sync_passes; ++pass) {
    sync.begin_pass(true, pass > 0);
    for (size_t i = 0; i < rows.starts.size(); ++i)
      for (size_t j = 0; j < cols.starts.size(); ++j) run_tile(i, j, &sync);
    sync.end_pass();
  }
  sync.begin_pass(false, synced);

  const auto float_on_device = torch::TensorOptions().dtype(torch::kFloat).device(impl_->device);
  auto sum = torch::zeros({latent.size(0), impl_->config.out_ch, f * h, f * w}, float_on_device);
  auto weight_sum = torch::zeros({1, 1, f * h, f * w}, float_on_device);
  for (size_t i = 0; i < rows.starts.size(); ++i) {
    const int64_t y = rows.starts[i];
    const auto wy = axis_weights(f * rows.tile, f * tiling.overlap, y > 0, y + rows.tile < h);
    for (size_t j = 0; j < cols.starts.size(); ++j) {
      const int64_t x = cols.starts[j];
      const auto wx = axis_weights(f * cols.tile, f * tiling.overlap, x > 0, x + cols.tile < w);
      const auto weight = (wy.view({-1, 1}) * wx.view({1, -1})).view({1, 1, f * rows.tile, f * cols.tile}).to(impl_->device);
      const auto piece = run_tile(i, j, synced ? &sync : nullptr);
      sum.narrow(2, f * y, f * rows.tile).narrow(3, f * x, f * cols.tile).add_(piece.to(torch::kFloat) * weight);
      weight_sum.narrow(2, f * y, f * rows.tile).narrow(3, f * x, f * cols.tile).add_(weight);
    }
  }
  return (sum / weight_sum).to(impl_->dtype);
}

torch::Tensor Autoencoder::decode(const torch::Tensor& z, const TileProgress& progress) const {
  check_image_like(z, impl_->config.z_channels, "decode");
  return impl_->tiling.applies_to(z.size(2), z.size(3)) ? decode_tiled(z, impl_->tiling, progress) : decode_untiled(z);
}

torch::Tensor Autoencoder::encode_moments(const torch::Tensor& x) const {
  if (!impl_->encoder)
    throw std::logic_error("Autoencoder::encode: this autoencoder was loaded without encoder tensors");
  check_image_like(x, impl_->config.in_channels, "encode");
  torch::NoGradGuard no_grad;
  return impl_->encoder->forward(x.to(impl_->device, impl_->dtype), impl_->chunking);
}

torch::Tensor Autoencoder::encode_moments_tiled(const torch::Tensor& x, const TiledDecode& tiling) const {
  if (!impl_->encoder)
    throw std::logic_error("Autoencoder::encode: this autoencoder was loaded without encoder tensors");
  check_image_like(x, impl_->config.in_channels, "encode");
  const int64_t f = impl_->config.downscale(), h = x.size(2) / f, w = x.size(3) / f;
  if (tiling.tile < 1 || tiling.overlap < 0 || tiling.overlap >= tiling.tile || x.size(2) % f || x.size(3) % f)
    throw std::invalid_argument("Autoencoder: tiled encode needs tile >= 1, 0 <= overlap < tile and an image whose "
                                "sides are multiples of " + std::to_string(f));
  torch::NoGradGuard no_grad;
  const auto image = x.to(impl_->device, impl_->dtype);
  const AxisTiles rows(h, std::min(tiling.tile, h), tiling.overlap), cols(w, std::min(tiling.tile, w), tiling.overlap);
  const auto float_on_device = torch::TensorOptions().dtype(torch::kFloat).device(impl_->device);
  auto sum = torch::zeros({x.size(0), 2 * impl_->config.z_channels, h, w}, float_on_device);
  auto weight_sum = torch::zeros({1, 1, h, w}, float_on_device);
  for (size_t i = 0; i < rows.starts.size(); ++i) {
    const int64_t y = rows.starts[i];
    const auto wy = axis_weights(rows.tile, tiling.overlap, y > 0, y + rows.tile < h);
    for (size_t j = 0; j < cols.starts.size(); ++j) {
      const int64_t xs = cols.starts[j];
      const auto wx = axis_weights(cols.tile, tiling.overlap, xs > 0, xs + cols.tile < w);
      const auto weight = (wy.view({-1, 1}) * wx.view({1, -1})).view({1, 1, rows.tile, cols.tile}).to(impl_->device);
      const auto crop = image.narrow(2, f * y, f * rows.tile).narrow(3, f * xs, f * cols.tile);
      const auto piece = impl_->encoder->forward(crop, impl_->chunking);
      sum.narrow(2, y, rows.tile).narrow(3, xs, cols.tile).add_(piece.to(torch::kFloat) * weight);
      weight_sum.narrow(2, y, rows.tile).narrow(3, xs, cols.tile).add_(weight);
    }
  }
  return (sum / weight_sum).to(impl_->dtype);
}

torch::Tensor Autoencoder::encode(const torch::Tensor& x) const {
  // DiagonalGaussian(sample=False): the mean, i.e. the first z channels of the moments. Large images by tiles.
  const int64_t f = impl_->config.downscale();
  const bool tiled = x.dim() == 4 && impl_->tiling.applies_to(x.size(2) / f, x.size(3) / f);
  const auto moments = tiled ? encode_moments_tiled(x, impl_->tiling) : encode_moments(x);
  const auto mean = moments.narrow(1, 0, impl_->config.z_channels);
  return (mean - impl_->config.shift_factor) * impl_->config.scale_factor;
}

const AutoencoderConfig& Autoencoder::config() const { return impl_->config; }
bool Autoencoder::has_encoder() const { return static_cast<bool>(impl_->encoder); }
torch::Dtype Autoencoder::dtype() const { return impl_->dtype; }
torch::Device Autoencoder::device() const { return impl_->device; }
const TiledDecode& Autoencoder::tiled_decode() const { return impl_->tiling; }
void Autoencoder::set_tiled_decode(const TiledDecode& tiling) { impl_->tiling = tiling; }
const AttentionChunking& Autoencoder::attention_chunking() const { return impl_->chunking; }
void Autoencoder::set_attention_chunking(const AttentionChunking& chunking) { impl_->chunking = chunking; }

torch::Tensor Autoencoder::encode_moments_recording(const torch::Tensor& x) const {
  if (!impl_->encoder)
    throw std::logic_error("Autoencoder::encode: this autoencoder was loaded without encoder tensors");
  check_image_like(x, impl_->config.in_channels, "encode");
  return impl_->encoder->forward(x.to(impl_->device, impl_->dtype), impl_->chunking);
}

torch::Tensor Autoencoder::decode_unscaled_recording(const torch::Tensor& latent) const {
  check_image_like(latent, impl_->config.z_channels, "decode");
  return impl_->decoder->forward(latent.to(impl_->device, impl_->dtype), impl_->chunking);
}

std::vector<torch::Tensor> Autoencoder::trainable_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& [name, parameter] : impl_->named_parameters()) out.push_back(parameter);
  return out;
}

AutoencoderTensors Autoencoder::state_dict() const {
  AutoencoderTensors out;
  for (const auto& [name, parameter] : impl_->named_parameters()) out.emplace(name, parameter.detach());
  return out;
}

}  // namespace genplug::flux
