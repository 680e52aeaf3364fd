// FLUX latent packing (BFL sampling.py prepare/unpack): 2x2 patches of the VAE latent become tokens,
// "b c (h ph) (w pw) -> b (h w) (c ph pw)", feature index channel * 4 + ph * 2 + pw.
#pragma once
#include <torch/types.h>

namespace genplug::flux {

// [B, C, 2*gh, 2*gw] -> [B, gh*gw, 4*C]
inline torch::Tensor pack_latent(const torch::Tensor& x) {
  const int64_t B = x.size(0), C = x.size(1), gh = x.size(2) / 2, gw = x.size(3) / 2;
  return x.reshape({B, C, gh, 2, gw, 2}).permute({0, 2, 4, 1, 3, 5}).reshape({B, gh * gw, C * 4});
}

// [B, gh*gw, 4*C] -> [B, C, 2*gh, 2*gw]
inline torch::Tensor unpack_latent(const torch::Tensor& x, int64_t gh, int64_t gw) {
  const int64_t B = x.size(0), C = x.size(2) / 4;
  return x.reshape({B, gh, gw, C, 2, 2}).permute({0, 3, 1, 4, 2, 5}).reshape({B, C, 2 * gh, 2 * gw});
}

}  // namespace genplug::flux
