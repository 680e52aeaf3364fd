// GGUF Q8_0 weights widened to float32 for a product, vectorised for the CPU it runs on. No tensor library: plain
// spans, so the kernel is testable alone.
#pragma once
#include <cstdint>

#include "simd_level.hpp"

namespace genplug::flux {

// out[32 b + j] = q[32 b + j] * d[b] for `blocks` blocks of 32 (j < 32): a row-major [rows, cols] Q8_0 matrix,
// cols a multiple of 32, has its blocks one after the other. Exact: an 8-bit integer times a float16 scale (held
// in float32 here) needs 8 + 11 significant bits.
void widen_q8_0(SimdLevel level, const int8_t* q, const float* d, float* out, int64_t blocks);

}  // namespace genplug::flux
