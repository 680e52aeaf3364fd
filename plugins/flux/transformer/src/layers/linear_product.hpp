// y = x W^T + b for the linear layers, the bias written into the output's rows over the cores before the product
// adds into them. libtorch's addmm copies the bias into every row on one thread, OpenBLAS's pool idling
// meanwhile: 1.3 ms of the 40 ms of a 1 152 x 1 024 -> 3 072 product (Zen 3, 2026-12-05), and such copies were
// about 1.8 % of the bench forward's time (docs/performance.md, "The per-token work over both cores").
#pragma once
#include <algorithm>
#include <cstring>
#include <vector>

#include <torch/types.h>

#include "../worker_threads.hpp"
#include "own_kernels.hpp"

namespace genplug::flux::layers {

// Float32 on the CPU, x of 2 or 3 dimensions with its rows contiguous (libtorch's linear is addmm for those: for more
// it is matmul then add_, other roundings), a bias, and no autograd recording (whose graph needs linear's own op).
inline bool own_bias_rows_apply(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return b.defined() && own_kernel_takes(x) && own_kernel_takes(w) && own_kernel_takes(b) &&
         (x.dim() == 2 || x.dim() == 3) && x.numel() > 0 && x.is_contiguous() && w.dim() == 2 && b.dim() == 1 &&
         b.is_contiguous() && b.size(0) == w.size(0);
}

// One row of float32 on the CPU (the modulations and embedders, which take the conditioning vector; any product of
// one token): a matrix-vector product.
inline bool one_row_product_applies(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return own_kernel_takes(x) && own_kernel_takes(w) && (!b.defined() || (own_kernel_takes(b) && b.dim() == 1)) &&
         x.dim() >= 1 && x.size(-1) > 0 && x.numel() == x.size(-1) && w.dim() == 2 && w.size(1) == x.size(-1);
}

// y = W x + b for one row x. OpenBLAS 0.3.21's sgemm packs the whole weight even for one row, and the
// modulation weights are a quarter of the model (38 M of the bench config's 149 M parameters); its sgemv streams
// each weight once: the bench config's modulations in 5.0 instead of 13.5 ms per forward (Zen 3, 2026-12-05).
// Deviation from torch::linear: the dot products summed in the GEMV's order, so equal within float32 rounding,
// not bit for bit.
inline torch::Tensor one_row_product(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  const torch::Tensor v = x.reshape({x.size(-1)});
  torch::Tensor y = b.defined() ? torch::addmv(b, w, v) : torch::mv(w, v);
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = w.size(0);
  return y.view(shape);
}

// torch::linear(x, w, b): the same products and sums, bit for bit (addmm's beta = 1 over the bias rows), except
// for one row (one_row_product).
inline torch::Tensor linear_product(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  if (one_row_product_applies(x, w, b)) return one_row_product(x, w, b);
  if (!own_bias_rows_apply(x, w, b)) return torch::linear(x, w, b);
  const int64_t outs = w.size(0), rows = x.numel() / x.size(-1);
  torch::Tensor y = torch::empty({rows, outs}, x.options());
  const float* bias = b.data_ptr<float>();
  float* out = y.data_ptr<float>();
  run_parts(rows, (int64_t(1) << 16) / std::max<int64_t>(outs, 1), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) std::memcpy(out + r * outs, bias, size_t(outs) * sizeof(float));
  });
  y.addmm_(x.reshape({rows, x.size(-1)}), w.t());
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = outs;
  return y.view(shape);
}

}  // namespace genplug::flux::layers
