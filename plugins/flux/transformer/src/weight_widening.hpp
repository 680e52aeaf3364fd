// Narrow weights widened to float32 for a product, vectorised for the CPU it runs on: GGUF's Q8_0 blocks, bfloat16,
// float16. No tensor library: plain spans, so the kernels are testable alone. Every result is exact
// (each narrow value, and each 8-bit integer times a float16 scale, is a float32 value).
#pragma once
#include <cstdint>

#include "simd_level.hpp"

namespace genplug::flux {

// out[32 b + j] = q[32 b + j] * d[b] for `blocks` blocks of 32 (j < 32): a row-major [rows, cols] Q8_0 matrix,
// cols a multiple of 32, has its blocks one after the other. d: the float16 scales' bits, as the file has them.
void widen_q8_0(SimdLevel level, const int8_t* q, const uint16_t* d, float* out, int64_t blocks);

// out[i] = x[i] for n bfloat16 values given as their bits: the bits shifted into a float32's upper half.
void widen_bf16(SimdLevel level, const uint16_t* x, float* out, int64_t n);

// out[i] = x[i] for n float16 values given as their bits (F16C's conversion: every CPU with AVX2 and FMA has it;
// the baseline converts by bit manipulation).
void widen_f16(SimdLevel level, const uint16_t* x, float* out, int64_t n);

}  // namespace genplug::flux
