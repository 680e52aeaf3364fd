// The modulation's per-token work (BFL's adaLN in DoubleStreamBlock, SingleStreamBlock and LastLayer), vectorised
// for the CPU it runs on. No tensor library: plain float rows, so the kernels are testable alone.
#pragma once
#include <cstdint>

#include "simd_level.hpp"

namespace genplug::flux {

// One row of n values, LayerNorm without affine parameters, then the modulation:
//   y = (x - mean) / sqrt(var + eps) * (1 + scale) + shift
// mean and var (biased: divided by n) of the row; one_plus_scale holds 1 + scale. Two passes for the moments (the
// sum, then the squares of x - mean and their sum, which corrects the mean: no cancellation as in E[x^2] - mean^2),
// each lane summing n / W values in float, the lanes added up in double; libtorch's layer_norm takes Welford's
// running moments in float. x and y may be the same.
void modulated_layer_norm(SimdLevel level, const float* x, const float* one_plus_scale, const float* shift,
                          float eps, float* y, int64_t n);

// y = x + gate * y over n values: the gated residual, y the branch's output (overwritten).
void gated_residual(SimdLevel level, const float* x, const float* gate, float* y, int64_t n);

}  // namespace genplug::flux
