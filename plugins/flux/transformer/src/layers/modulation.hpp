// Modulation (BFL layers.py): lin(silu(vec)) split into (shift, scale, gate) once (single) or twice (double).
#pragma once
#include <algorithm>
#include <initializer_list>
#include <utility>

#include "../modulation_kernels.hpp"
#include "../worker_threads.hpp"
#include "own_kernels.hpp"
#include "weights.hpp"

namespace genplug::flux::layers {

// Whether the modulation kernels take x [B, L, H] (rows of H contiguous) and the [B, 1, H] modulation vectors
// `m`: float32 on the CPU, outside autograd recording.
inline bool own_modulation_applies(const torch::Tensor& x, std::initializer_list<torch::Tensor> m) {
  if (!own_kernel_takes(x) || x.dim() != 3 || x.stride(2) != 1) return false;
  return std::all_of(m.begin(), m.end(), [&](const torch::Tensor& v) {
    return own_kernel_takes(v) && v.dim() == 3 && v.size(0) == x.size(0) && v.size(1) == 1 && v.size(2) == x.size(2) &&
           v.stride(2) == 1;
  });
}

// f(b, l) for every row of x [B, L, H], split over kernel_threads() in runs of at least 64 Ki values.
template <class Row> void over_rows(const torch::Tensor& x, Row&& f) {
  const int64_t L = x.size(1), H = std::max<int64_t>(x.size(2), 1);
  run_parts(x.size(0) * L, (int64_t(1) << 16) / H, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) f(r / L, r % L);
  });
}

struct ModulationOut {
  torch::Tensor shift, scale, gate;  // [B, 1, H]

  // (1 + scale) * LayerNorm(x) + shift (LayerNorm without affine, eps 1e-6): one pass of the modulation kernel
  // over the cores for float32 on the CPU, libtorch's layer_norm and addcmul (same values within rounding) else.
  torch::Tensor apply_norm(const torch::Tensor& x) const {
    const torch::Tensor ops = 1 + scale;
    if (!own_modulation_applies(x, {ops, shift})) return torch::addcmul(shift, ops, layer_norm(x));
    torch::Tensor y = torch::empty(x.sizes(), x.options());
    const SimdLevel simd = simd_level();
    const float *in = x.data_ptr<float>(), *o = ops.data_ptr<float>(), *s = shift.data_ptr<float>();
    float* out = y.data_ptr<float>();
    const int64_t L = x.size(1), H = x.size(2);
    over_rows(x, [&](int64_t b, int64_t l) {
      modulated_layer_norm(simd, in + b * x.stride(0) + l * x.stride(1), o + b * ops.stride(0),
                           s + b * shift.stride(0), 1e-6f, out + (b * L + l) * H, H);
    });
    return y;
  }

  // x + gate * y, y the branch's fresh output: the kernel (float32 on the CPU) writes the sum over it, so y must be a
  // tensor nothing else holds or views (a linear layer's result, as every caller passes).
  torch::Tensor gated(const torch::Tensor& x, torch::Tensor&& y) const {
    const bool y_fits = own_kernel_takes(y) && y.is_contiguous() && y.sizes() == x.sizes();
    if (!y_fits || !own_modulation_applies(x, {gate})) return torch::addcmul(x, gate, y);
    const SimdLevel simd = simd_level();
    const float *in = x.data_ptr<float>(), *g = gate.data_ptr<float>();
    float* out = y.data_ptr<float>();
    const int64_t L = x.size(1), H = x.size(2);
    over_rows(x, [&](int64_t b, int64_t l) {
      gated_residual(simd, in + b * x.stride(0) + l * x.stride(1), g + b * gate.stride(0), out + (b * L + l) * H, H);
    });
    return std::move(y);
  }
};

struct Modulation {
  Linear lin;
  int64_t multiplier = 3;
  Modulation() = default;
  Modulation(const WeightReader& w, const std::string& name, int64_t hidden, bool is_double)
      : lin(w, name + ".lin", hidden, (is_double ? 6 : 3) * hidden), multiplier(is_double ? 6 : 3) {}

  std::vector<ModulationOut> operator()(const torch::Tensor& vec) const {
    std::vector<torch::Tensor> c = lin(torch::silu(vec)).unsqueeze(1).chunk(multiplier, -1);
    std::vector<ModulationOut> out;
    for (size_t i = 0; i + 2 < c.size(); i += 3) out.push_back({c[i], c[i + 1], c[i + 2]});
    return out;
  }
};

}  // namespace genplug::flux::layers
