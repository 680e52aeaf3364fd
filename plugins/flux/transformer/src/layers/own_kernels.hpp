// Whether a tensor can go to the transformer's own hand-written CPU kernels (GELU, modulation, bias rows): float32
// on the CPU, and not being recorded by autograd, whose graph needs libtorch's own ops. Else libtorch computes it.
#pragma once
#include <torch/types.h>

namespace genplug::flux::layers {

inline bool own_kernel_takes(const torch::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat32 &&
         !(torch::GradMode::is_enabled() && t.requires_grad());
}

}  // namespace genplug::flux::layers
