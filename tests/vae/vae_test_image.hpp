// The smooth test picture of the VAE tiling test and figures: gradients, a disc and soft stripes, in [-1, 1],
// with content that varies across tiles.
#pragma once
#include <vector>

#include <torch/types.h>

namespace genplug::test::vae {

inline torch::Tensor test_image(int64_t channels, int64_t size) {
  const auto axis = torch::linspace(0, 1, size, torch::kFloat);
  const auto y = axis.view({-1, 1}).expand({size, size}), x = axis.view({1, -1}).expand({size, size});
  const auto disc = torch::sigmoid((0.3 - ((x - 0.6).pow(2) + (y - 0.4).pow(2)).sqrt()) * 40);
  std::vector<torch::Tensor> planes;
  for (int64_t c = 0; c < channels; ++c)
    planes.push_back(((c % 3 == 0 ? x : c % 3 == 1 ? y : (x + y) / 2) * 1.2 - 0.6 + 0.5 * disc +
                      0.15 * torch::sin(x * (12.0 + 5 * c) + y * 7.0))
                         .clamp(-1, 1));
  return torch::stack(planes).unsqueeze(0);
}

}  // namespace genplug::test::vae
