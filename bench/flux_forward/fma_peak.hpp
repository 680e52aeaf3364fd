// The cores' fp32 multiply-add peak, measured: independent fused multiply-adds on registers only, at the widest
// vector instruction set the transformer's kernels run (simd_level(), capped by ATEN_CPU_CAPABILITY). The roof
// that a matrix product's rate is read against: a GEMM at 0.9 of it leaves a faster GEMM little to gain.
#pragma once
#include <cstdint>

namespace genplug::bench {

// FLOPs of one call of fma_peak_run (a multiply-add = 2): `iterations` rounds of 12 vector multiply-adds.
double fma_peak_flops(int64_t iterations);

// Runs the multiply-adds on `threads` threads at once and returns when all have finished.
void fma_peak_run(int threads, int64_t iterations);

// The instruction set fma_peak_run uses: "avx512", "avx2" or "baseline" (SSE2: multiply and add, no fusion).
const char* fma_peak_isa();

}  // namespace genplug::bench
