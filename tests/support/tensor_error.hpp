// The relative error the torch tests hold tensors to.
#pragma once

#include <algorithm>
#include <cmath>

#include <torch/types.h>

namespace genplug::test {

// max |actual - reference| / max |reference|, in float64 on the CPU. Infinite for tensors of other shapes (no
// broadcasting) or a NaN anywhere, so that no bound passes them.
inline double relative_error(const torch::Tensor& actual, const torch::Tensor& reference) {
  const torch::Tensor a = actual.detach().to(torch::kCPU, torch::kFloat64);
  const torch::Tensor r = reference.detach().to(torch::kCPU, torch::kFloat64);
  if (a.sizes() != r.sizes()) return INFINITY;
  const double diff = (a - r).abs().max().item<double>();
  const double scale = r.abs().max().item<double>();
  return std::isnan(diff) || std::isnan(scale) ? INFINITY : diff / std::max(scale, 1e-30);
}

}  // namespace genplug::test
