#include "latent_preview.hpp"

#include <algorithm>
#include <cmath>

#include <torch/nn/functional/pooling.h>
#include <torch/nn/functional/upsampling.h>

namespace genplug::flux {

PreviewSize preview_size(int64_t height, int64_t width, int64_t max_side) {
  const double s = std::min(1.0, double(max_side) / double(std::max(height, width)));
  auto side = [s](int64_t n) { return std::max<int64_t>(1, std::llround(double(n) * s)); };
  return {side(height), side(width)};
}

torch::Tensor preview_decode(const Autoencoder& vae, const torch::Tensor& z, int64_t height, int64_t width,
                             int64_t max_side) {
  namespace F = torch::nn::functional;
  const PreviewSize size = preview_size(height, width, max_side);
  const int64_t f = vae.config().downscale();
  const int64_t latent_side = std::max(z.size(2), z.size(3));
  const int64_t k = std::max<int64_t>(1, (f * latent_side + max_side - 1) / max_side);  // ceil(f L / max_side)
  torch::NoGradGuard no_grad;
  const torch::Tensor pooled =
      k == 1 ? z : F::avg_pool2d(z, F::AvgPool2dFuncOptions(k).stride(k).ceil_mode(true).count_include_pad(false));
  torch::Tensor image = k == 1 ? vae.decode(pooled) : vae.decode_untiled(pooled);  // k == 1: the full decode
  if (image.size(2) != size.height || image.size(3) != size.width)
    image = F::interpolate(image.to(torch::kFloat),
                           F::InterpolateFuncOptions().size(std::vector<int64_t>{size.height, size.width})
                               .mode(torch::kArea));
  return image;
}

}  // namespace genplug::flux
