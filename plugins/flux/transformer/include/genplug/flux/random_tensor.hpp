// How random_flux_weights (transformer.hpp) draws one weight, for callers that draw elsewhere (bench/flux_forward
// draws FLUX-dev's 11.9 B parameters on the GPU): the scales live in one place.
#pragma once
#include <string>

#include <ATen/core/Generator.h>
#include <c10/util/Optional.h>
#include <torch/types.h>

namespace genplug::flux {

// ".scale" (RMSNorm) ones; ".bias" N(0, 0.02^2); every other weight N(0, 1 / fan_in), fan_in = shape[1].
// `generator`: none for the options' device's default generator.
torch::Tensor random_flux_tensor(const std::string& name, at::IntArrayRef shape, const torch::TensorOptions& options,
                                 c10::optional<at::Generator> generator = c10::nullopt);

}  // namespace genplug::flux
