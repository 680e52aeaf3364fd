// GELU-tanh on tensors: the hand-vectorised kernel (gelu_tanh.hpp) over the cores for float32 on the CPU
// outside autograd recording, libtorch's gelu otherwise (it is the same function: test_gelu_tanh).
#pragma once
#include <algorithm>
#include <vector>

#include <torch/types.h>

#include "../gelu_tanh.hpp"
#include "../worker_threads.hpp"
#include "own_kernels.hpp"

namespace genplug::flux::layers {

// out <- gelu(x) for x and out of one shape whose rows (last dimension) are contiguous, as narrow() leaves them;
// rows split over kernel_threads(), none fewer than 64 Ki values each.
inline void gelu_tanh_into(const torch::Tensor& x, torch::Tensor out) {
  const int64_t cols = x.size(-1);
  const torch::Tensor x2 = x.reshape({-1, cols});
  torch::Tensor o2 = out.view({-1, cols});
  TORCH_CHECK(x2.stride(1) == 1 && o2.stride(1) == 1, "gelu_tanh_into: rows must be contiguous");
  const int64_t rows = x2.size(0), per_thread = int64_t(1) << 16;
  const SimdLevel simd = simd_level();
  const float* in = x2.data_ptr<float>();
  float* res = o2.data_ptr<float>();
  const int64_t in_stride = x2.stride(0), out_stride = o2.stride(0);
  run_parts(rows, per_thread / std::max<int64_t>(cols, 1), [&](int64_t begin, int64_t end) {  // runs of rows
    if (in_stride == cols && out_stride == cols)  // one span
      return gelu_tanh(simd, in + begin * cols, res + begin * cols, (end - begin) * cols);
    for (int64_t r = begin; r < end; ++r) gelu_tanh(simd, in + r * in_stride, res + r * out_stride, cols);
  });
}

// GELU(approximate="tanh").
inline torch::Tensor gelu_tanh(const torch::Tensor& x) {
  if (!own_kernel_takes(x)) return torch::gelu(x, "tanh");
  torch::Tensor out = torch::empty(x.sizes(), x.options());
  gelu_tanh_into(x, out);
  return out;
}

// GELU in place, for a product nothing else holds (the double block's MLP): no fresh output to page in.
inline torch::Tensor gelu_tanh_(torch::Tensor x) {
  if (!own_kernel_takes(x) || !x.is_contiguous()) return gelu_tanh(x);
  gelu_tanh_into(x, x);
  return x;
}

// cat({a, gelu(x)}, -1), the GELU written straight into its place (no copy of x or of its GELU).
inline torch::Tensor cat_gelu(const torch::Tensor& a, const torch::Tensor& x) {
  if (!own_kernel_takes(x) || a.scalar_type() != x.scalar_type()) return torch::cat({a, gelu_tanh(x)}, -1);
  std::vector<int64_t> shape = a.sizes().vec();
  shape.back() += x.size(-1);
  torch::Tensor joined = torch::empty(shape, a.options());
  joined.narrow(-1, 0, a.size(-1)).copy_(a);
  gelu_tanh_into(x, joined.narrow(-1, a.size(-1), x.size(-1)));
  return joined;
}

}  // namespace genplug::flux::layers
