// See model_tensor_ops.hpp. Each operation works on views of the host's DLTensors (from_dlpack: no copy).
#include "model_tensor_ops.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <genplug/plugin.hpp>

#include "dlpack_bridge.hpp"
#include "seed_mix.hpp"

namespace genplug::flux {

namespace {

// out = sum_i coeffs[i] * inputs[i], accumulated aside first (out may alias an input), in the tensors' dtype.
genplug_status linear_combination(genplug_model_t*, const DLTensor* out, uint32_t count,
                                  const DLTensor* const* inputs, const double* coeffs,
                                  const genplug_context_t* ctx) {
  return guarded(ctx, [&] {
    if (!out || (count && (!inputs || !coeffs))) throw InvalidArgument("tensor_ops.linear_combination: NULL argument");
    torch::NoGradGuard no_grad;
    torch::Tensor o = from_dlpack(*out, "linear_combination: out");
    torch::Tensor acc;
    for (uint32_t i = 0; i < count; ++i) {
      if (!inputs[i]) throw InvalidArgument("tensor_ops.linear_combination: NULL input");
      const torch::Tensor x = from_dlpack(*inputs[i], "linear_combination: input");
      if (x.sizes() != o.sizes()) throw InvalidArgument("tensor_ops.linear_combination: shape mismatch");
      acc = acc.defined() ? acc.add(x, coeffs[i]) : x.mul(coeffs[i]);
    }
    if (acc.defined())
      o.copy_(acc);
    else
      o.zero_();
  });
}

genplug_status empty_like(genplug_model_t*, const DLTensor* like, DLManagedTensor** out, const genplug_context_t* ctx) {
  if (out) *out = nullptr;
  return guarded(ctx, [&] {
    if (!like || !out) throw InvalidArgument("tensor_ops.empty_like: NULL argument");
    *out = to_dlpack(torch::empty_like(from_dlpack(*like, "empty_like"), torch::MemoryFormat::Contiguous));
  });
}

// Drawn on the CPU from a generator seeded by (seed, stream), then moved: the same noise on every device. The
// generator keeps 32 bits of its seed, which the mix below takes from seed bits 0-33 only: for a seed above
// 2^32 - 1 all 64 bits and the stream are folded in instead (seeds 2^34 apart had re-noised alike).
genplug_status normal(genplug_model_t*, const DLTensor* out, uint64_t seed, uint64_t stream,
                      const genplug_context_t* ctx) {
  return guarded(ctx, [&] {
    if (!out) throw InvalidArgument("tensor_ops.normal: NULL argument");
    torch::NoGradGuard no_grad;
    torch::Tensor o = from_dlpack(*out, "normal: out");
    const uint64_t mixed = seed >> 32 == 0 ? seed ^ (stream + 0x9E3779B97F4A7C15ULL + (seed << 6) + (seed >> 2))
                                           : fold_to_32_bits(splitmix64(seed) ^ stream);
    auto gen = at::detail::createCPUGenerator(mixed);
    o.copy_(at::randn(o.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32)));
  });
}

}  // namespace

const genplug_model_tensor_ops_t& torch_tensor_ops() {
  static const genplug_model_tensor_ops_t table{sizeof(genplug_model_tensor_ops_t), &linear_combination,
                                                &empty_like, &normal};
  return table;
}

}  // namespace genplug::flux
