// What the FLUX model computes in (config.compute_dtype), apart from what its weights are kept in (config.dtype).
// A CPU without native bf16 products runs libtorch's bf16 matrix products through conversions element by element,
// an order of magnitude slower than f32 (a first evaluation of the peer checkpoint took over 120 s on an AVX2-only
// EPYC, issue #18), and libtorch < 2 has no f16 products on the CPU at all. There, bf16 and f16 weights stay in
// their dtype in memory and each linear layer widens its weight to f32 just before its product
// (layers/weights.hpp widened()). A CPU whose bf16 products outrun its f32 ones (AMX; AMD's AVX512-BF16) computes
// bf16 fastest of all; Intel's AVX512-BF16 without AMX does not: 1.6-1.9x f32 on an Emerald Rapids Xeon whose AMX a
// VM hid, where the widened weights took 0.84-1.06x (docs/performance.md). AMX's speed is assumed, not measured.
#pragma once
#include <set>
#include <string>

#include <torch/types.h>

namespace genplug::flux {

// "f32", "bf16", "f16".
std::string dtype_name(torch::Dtype dtype);

// True when the CPU reports native bf16 dot products (avx512_bf16 or amx_bf16 in /proc/cpuinfo's flags) and
// oneDNN may use them (ONEDNN_MAX_CPU_ISA, or DNNL_MAX_CPU_ISA, unset or naming a bf16-capable level).
bool cpu_has_native_bf16();

// Whether oneDNN's bf16 products outrun OpenBLAS's f32 ones here: AMX-BF16 that oneDNN may use, or AVX512-BF16 on
// an AMD CPU (Zen 4 and 5: 0.6x f32's time). Not Intel's AVX512-BF16 alone (Cooper Lake, or a VM hiding AMX).
bool cpu_bf16_outruns_f32();

// Its rule on a CPU's vendor ("AuthenticAMD"), /proc/cpuinfo flags and oneDNN's ISA cap (upper case, "" for none).
bool bf16_outruns_f32(const std::string& vendor, const std::set<std::string>& flags, const std::string& onednn_cap);

// "auto": the weights' dtype on CUDA and for f32 weights; on a CPU, bf16 for bf16 weights where
// cpu_bf16_outruns_f32(), else f32 for bf16 and f16 weights (see above; docs/performance.md has the figures).
// "f32", "bf16", "f16": that dtype. Throws ConfigError for anything else.
torch::Dtype resolve_compute_dtype(const std::string& setting, torch::Dtype weights, const torch::Device& device);

// The same with the CPU's answer given (`bf16_outruns`: cpu_bf16_outruns_f32()).
torch::Dtype resolve_compute_dtype(const std::string& setting, torch::Dtype weights, const torch::Device& device,
                                   bool bf16_outruns);

}  // namespace genplug::flux
