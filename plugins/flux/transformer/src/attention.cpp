// Attention without the full L x L matrix (see attention.hpp).
#include <genplug/flux/attention.hpp>

#include <algorithm>
#include <cmath>

#include <torch/version.h>

namespace genplug::flux {

torch::Tensor full_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  const double scale = 1.0 / std::sqrt(double(q.size(-1)));
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  return torch::matmul(scores.softmax(-1), v);
}

int64_t attention_chunk_size(const torch::Tensor& q, const torch::Tensor& k, int64_t budget_bytes) {
  // Per query row: scores and their softmax, B * heads * Lk elements each.
  const int64_t row_bytes = 2 * q.size(0) * q.size(1) * k.size(-2) * int64_t(q.element_size());
  return std::max<int64_t>(1, budget_bytes / std::max<int64_t>(1, row_bytes));
}

torch::Tensor chunked_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                int64_t chunk) {
  const int64_t Lq = q.size(-2);
  chunk = std::max<int64_t>(1, chunk);
  const double scale = 1.0 / std::sqrt(double(q.size(-1)));
  torch::Tensor kt = k.transpose(-2, -1);
  torch::Tensor out = torch::empty({q.size(0), q.size(1), Lq, v.size(-1)}, q.options());
  for (int64_t start = 0; start < Lq; start += chunk) {
    const int64_t n = std::min(chunk, Lq - start);
    torch::Tensor scores = torch::matmul(q.narrow(-2, start, n), kt);
    scores.mul_(scale);
    torch::Tensor probs = scores.softmax(-1);
    scores.reset();
    out.narrow(-2, start, n).copy_(torch::matmul(probs, v));
  }
  return out;
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        int64_t budget_bytes) {
#if TORCH_VERSION_MAJOR >= 2
  (void)budget_bytes;
  return torch::scaled_dot_product_attention(q, k, v);
#else
  return chunked_attention(q, k, v, attention_chunk_size(q, k, budget_bytes));
#endif
}

}  // namespace genplug::flux
