// What the FLUX model computes in (config.compute_dtype), apart from what its weights are kept in (config.dtype).
// A CPU without native bf16 products runs libtorch's bf16 matrix products through conversions element by element,
// an order of magnitude slower than f32 (a first evaluation of the peer checkpoint took over 120 s on an AVX2-only
// EPYC, issue #18), and libtorch < 2 has no f16 products on the CPU at all. There, bf16 and f16 weights stay in
// their dtype in memory and each linear layer widens its weight to f32 just before its product
// (layers/weights.hpp widened()). A CPU with native bf16 (AVX512-BF16, AMX) computes bf16 fastest of all.
#pragma once
#include <string>

#include <torch/types.h>

namespace genplug::flux {

// "f32", "bf16", "f16".
std::string dtype_name(torch::Dtype dtype);

// True when the CPU reports native bf16 dot products (avx512_bf16 or amx_bf16 in /proc/cpuinfo's flags) and
// oneDNN may use them (ONEDNN_MAX_CPU_ISA, or DNNL_MAX_CPU_ISA, unset or naming a bf16-capable level).
bool cpu_has_native_bf16();

// "auto": the weights' dtype on CUDA and for f32 weights; on a CPU, bf16 for bf16 weights where
// cpu_has_native_bf16(), else f32 for bf16 and f16 weights (see above; docs/performance.md has the figures).
// "f32", "bf16", "f16": that dtype. Throws ConfigError for anything else.
torch::Dtype resolve_compute_dtype(const std::string& setting, torch::Dtype weights, const torch::Device& device);

}  // namespace genplug::flux
