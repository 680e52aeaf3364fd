// GELU with the tanh approximation (PyTorch's gelu(approximate="tanh"), the MLPs of BFL's blocks), vectorised
// for the CPU it runs on. No tensor library: plain float spans, so the kernel is testable alone.
#pragma once
#include <cstdint>

#include "simd_level.hpp"

namespace genplug::flux {

// y[i] = gelu(x[i]) for n values (x and y may be the same span):
//   gelu(x) = x/2 (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
//           = x / (1 + exp(-2u))          since 1 + tanh(u) = 2 sigmoid(2u)
// One exp and one division, and no cancellation where tanh(u) nears -1 (x below about -3), where libtorch's
// 1 + tanh(u) in float keeps only a few digits: the factor beside x is within ~1e-6 of itself here (the exp's
// ~1e-7 times its argument's rounding), and within ~1e-7 absolute in libtorch's form. NaN stays NaN.
void gelu_tanh(SimdLevel level, const float* x, float* y, int64_t n);

}  // namespace genplug::flux
