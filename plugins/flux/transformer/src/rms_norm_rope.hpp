// QK normalisation and rotary embedding in one pass (BFL QKNorm's RMSNorm, then math.apply_rope), vectorised for
// the CPU it runs on. No tensor library: plain float rows, so the kernel is testable alone.
#pragma once
#include <cstdint>

#include "simd_level.hpp"

namespace genplug::flux {

// For each of `rows` rows of `dim` values (row i at x + i * x_stride; out + i * dim, contiguous):
//   r = 1 / sqrt(mean_d x_d^2 + 1e-6),  a_d = x_d r scale_d                        (RMSNorm, BFL's order)
//   out_2k = cos_k a_2k - sin_k a_2k+1,  out_2k+1 = sin_k a_2k + cos_k a_2k+1      (rotation of pair k)
// with cos_k, sin_k from row i of the [rows, dim / 2] tables (cos + i * dim / 2). dim is even. The sum of
// squares runs in vector lanes (libtorch's mean sums in its own order: ~1e-7 apart).
void rms_norm_rope(SimdLevel level, const float* x, int64_t x_stride, int64_t rows, int64_t dim, const float* scale,
                   const float* cos, const float* sin, float* out);

}  // namespace genplug::flux
