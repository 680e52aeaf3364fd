// Attention without the full L x L matrix (see attention.hpp): the reference formula, the chunked path and the
// dispatch (the fused and blocked paths are fused_attention.cpp and blocked_attention.cpp).
#include <genplug/flux/attention.hpp>

#include <algorithm>
#include <cmath>

#include <ATen/core/grad_mode.h>
#include <torch/version.h>

namespace genplug::flux {

torch::Tensor full_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  const double scale = 1.0 / std::sqrt(double(q.size(-1)));
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  return torch::matmul(scores.softmax(-1), v);
}

AttentionChunks attention_chunks(const torch::Tensor& q, const torch::Tensor& k, int64_t budget_bytes) {
  // Per query row of one head: its Lk scores (the softmax runs in place).
  const int64_t row_bytes = k.size(-2) * int64_t(q.element_size());
  const int64_t rows = std::max<int64_t>(1, budget_bytes / std::max<int64_t>(1, row_bytes));
  // At least one of each where q has no query rows or no heads: the plan is then one chunk that chunked_attention's
  // loops never take, where a count of 0 divided by zero below.
  const int64_t heads = std::max<int64_t>(1, q.size(0) * q.size(1)), queries = std::max<int64_t>(1, q.size(-2));
  AttentionChunks c;
  c.queries = std::min(queries, rows);
  c.heads = std::clamp<int64_t>(rows / c.queries, 1, heads);
  return c;
}

torch::Tensor chunked_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                AttentionChunks chunks) {
  const int64_t B = q.size(0), H = q.size(1), Lq = q.size(2), Lk = k.size(2), D = q.size(3), Dv = v.size(3);
  // Nothing to attend: std::clamp(x, 1, 0) below would be undefined.
  if (B * H == 0 || Lq == 0) return torch::empty({B, H, Lq, Dv}, q.options());
  const int64_t hn = std::clamp<int64_t>(chunks.heads, 1, B * H), qn = std::clamp<int64_t>(chunks.queries, 1, Lq);
  const double scale = 1.0 / std::sqrt(double(D));
  // Batch and heads flattened into one dimension of independent slices.
  torch::Tensor q3 = q.reshape({B * H, Lq, D}), kt3 = k.reshape({B * H, Lk, D}).transpose(1, 2);
  torch::Tensor v3 = v.reshape({B * H, Lk, Dv});
  torch::Tensor out = torch::empty({B * H, Lq, Dv}, q.options());
  // One score buffer for every chunk: fresh multi-MB allocations would page-fault and zero on each chunk.
  torch::Tensor buffer = torch::empty({hn * qn * Lk}, q.options());
  for (int64_t h0 = 0; h0 < B * H; h0 += hn) {
    const int64_t nh = std::min(hn, B * H - h0);
    torch::Tensor kt = kt3.narrow(0, h0, nh), vv = v3.narrow(0, h0, nh);
    for (int64_t s = 0; s < Lq; s += qn) {
      const int64_t n = std::min(qn, Lq - s);
      torch::Tensor scores = buffer.narrow(0, 0, nh * n * Lk).view({nh, n, Lk});
      torch::bmm_out(scores, q3.narrow(0, h0, nh).narrow(1, s, n), kt);
      scores.mul_(scale);
      at::_softmax_out(scores, scores, -1, false);  // in place: row-wise max, exp, normalise
      out.narrow(0, h0, nh).narrow(1, s, n).copy_(torch::bmm(scores, vv));
    }
  }
  return out.view({B, H, Lq, Dv});
}

torch::Tensor chunked_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                int64_t query_chunk) {
  return chunked_attention(q, k, v, AttentionChunks{q.size(0) * q.size(1), query_chunk});
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        int64_t budget_bytes) {
#if TORCH_VERSION_MAJOR >= 2
  // CUDA SDPA picks a fused (flash / memory-efficient) kernel. On the CPU, early 2.x falls back to the
  // math kernel that builds the L x L scores (~419 GB at 4096^2), so the CPU keeps its own paths.
  if (q.is_cuda()) return torch::scaled_dot_product_attention(q, k, v);
#endif
  // The blocked and chunked kernels write through out= ops into a reused buffer, which autograd cannot
  // differentiate; training (train/mini, a few hundred tokens) takes the plain formula, whose scores are small
  // there.
  const bool recording = at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
  if (recording) return full_attention(q, k, v);
  const bool cpu_f32 = q.device().is_cpu() && q.scalar_type() == torch::kFloat32 &&
                       k.scalar_type() == torch::kFloat32 && v.scalar_type() == torch::kFloat32;
  if (cpu_f32 && k.size(2) > 0) return fused_attention(q, k, v);
  return chunked_attention(q, k, v, attention_chunks(q, k, budget_bytes));
}

}  // namespace genplug::flux
