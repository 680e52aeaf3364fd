// The dtype the FLUX plugin's libraries normalise, rotate, embed and take softmaxes in.
#pragma once
#include <torch/types.h>

namespace genplug::flux {

// float32 for float32 and narrower floating inputs (the only ones it is asked about), as the references do (BFL's
// QKNorm, apply_rope and timestep embedding, Hugging Face's T5LayerNorm and attention softmax, torch's group_norm
// for half types); float64 stays float64, so that the tests' and genplug-mini-precision's float64 runs are float64
// throughout (tests/support/rounding_bound.hpp).
inline torch::ScalarType float32_at_least(torch::ScalarType dtype) {
  return dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

}  // namespace genplug::flux
