// Blocked attention with an online softmax (FlashAttention-2, Dao 2023), float32 on the CPU (see attention.hpp).
// Per block of query rows Q_b, over key blocks K_t, V_t, with m = -inf, l = 0, O = 0:
//   S = (Q_b / sqrt(d)) K_t^T                       one matrix product into a reused buffer
//   m' = max(m, rowmax S);  P = exp(S - m')          online_softmax_block, in place
//   l = l e^(m - m') + rowsum P;  O = O e^(m - m') + P V_t
// and O / l at the end. Against softmax(QK^T / sqrt(d)) V this differs only in rounding: the scale is applied
// to q (one multiply per query feature, not one per score) and O is normalised once, after the product.
#include <genplug/flux/attention.hpp>

#include <ATen/ThreadLocalState.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include <genplug/flux/blas_threads.hpp>

#include "online_softmax.hpp"
#include "worker_threads.hpp"

namespace genplug::flux {

AttentionBlocks attention_blocks(const torch::Tensor& q, const torch::Tensor& k, int64_t budget_bytes) {
  const int64_t Lq = std::max<int64_t>(1, q.size(-2)), Lk = std::max<int64_t>(1, k.size(-2));
  const int64_t row_bytes = Lk * int64_t(sizeof(float));
  const int64_t rows_of_every_key = budget_bytes / row_bytes;
  AttentionBlocks b;
  if (rows_of_every_key >= std::min(kMinAttentionQueryBlock, Lq)) {
    b.queries = evened_run(Lq, std::min({Lq, rows_of_every_key, kAttentionQueryBlock}));
    b.keys = Lk;
  } else {
    b.queries = std::min(Lq, kMinAttentionQueryBlock);
    b.keys = std::clamp<int64_t>(budget_bytes / (b.queries * int64_t(sizeof(float))), 1, Lk);
  }
  return b;
}

const char* attention_vector_isa() { return simd_level_name(simd_level()); }

namespace {

// Each row of `o` times the matching entry of `per_row` (n values).
void scale_rows(torch::Tensor& o, std::vector<float>& per_row, int64_t n) {
  o.mul_(torch::from_blob(per_row.data(), {n, 1}, torch::kFloat32));
}

// One block of query rows `qb` [n, D] (already scaled) against every key, into `o` [n, Dv].
void attend_rows(const torch::Tensor& qb, const torch::Tensor& k, const torch::Tensor& v, int64_t keys,
                 torch::Tensor& scores, torch::Tensor& o, SimdLevel simd) {
  const int64_t n = qb.size(0), Lk = k.size(0);
  std::vector<float> m(size_t(n), -std::numeric_limits<float>::infinity()), l(size_t(n), 0.0f), alpha(size_t(n), 0.0f);
  for (int64_t t = 0; t < Lk; t += keys) {
    const int64_t c = std::min(keys, Lk - t);
    torch::Tensor p = scores.narrow(0, 0, n * c).view({n, c});
    torch::mm_out(p, qb, k.narrow(0, t, c).t());
    online_softmax_block(simd, p.data_ptr<float>(), n, c, c, m.data(), l.data(), alpha.data());
    const torch::Tensor vt = v.narrow(0, t, c);
    if (t == 0) {
      torch::mm_out(o, p, vt);
    } else {
      scale_rows(o, alpha, n);  // the earlier blocks' weights, relative to the new running max
      o.addmm_(p, vt);
    }
  }
  for (float& x : l) x = 1.0f / x;
  scale_rows(o, l, n);
}

}  // namespace

int attention_workers(int requested) { return requested > 0 ? requested : kernel_threads(); }

torch::Tensor blocked_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                AttentionBlocks blocks) {
  TORCH_CHECK(q.device().is_cpu() && q.scalar_type() == torch::kFloat32 && k.scalar_type() == torch::kFloat32 &&
                  v.scalar_type() == torch::kFloat32,
              "blocked_attention: float32 CPU tensors only");
  const int64_t B = q.size(0), H = q.size(1), Lq = q.size(2), Lk = k.size(2), D = q.size(3), Dv = v.size(3);
  TORCH_CHECK(Lk > 0, "blocked_attention: no keys");
  const int64_t slices = B * H;
  const int64_t qn = std::clamp<int64_t>(blocks.queries, 1, std::max<int64_t>(1, Lq));
  const int64_t kn = std::clamp<int64_t>(blocks.keys, 1, Lk);
  const double scale = 1.0 / std::sqrt(double(D));
  // The products read q, k and v through their strides (views into a qkv product stay views) and write the
  // output as [B, Lq, H, Dv], so that merging the heads afterwards is a view too.
  const auto slice = [H](const torch::Tensor& t, int64_t i) { return t.select(0, i / H).select(0, i % H); };
  torch::Tensor out = torch::empty({B, Lq, H, Dv}, q.options());
  const torch::Tensor out_heads = out.permute({0, 2, 1, 3});
  const int64_t row_blocks = (Lq + qn - 1) / qn, items = slices * row_blocks;
  const SimdLevel simd = simd_level();
  // Work items are (slice, block of query rows) pairs, independent of each other, taken in turn by each worker.
  std::atomic<int64_t> next{0};
  const at::ThreadLocalState caller;  // grad and inference mode, dispatch keys: the workers run as the caller
  auto work = [&] {
    const at::ThreadLocalStateGuard as_caller(caller);
    // One buffer each for every block's scaled queries and scores: fresh multi-MB allocations would page-fault
    // and zero on each block.
    torch::Tensor scores = torch::empty({qn * kn}, q.options()), scaled_q = torch::empty({qn * D}, q.options());
    for (int64_t i = next++; i < items; i = next++) {
      const int64_t h = i / row_blocks, s = (i % row_blocks) * qn, n = std::min(qn, Lq - s);  // h: batch x head
      torch::Tensor qb = scaled_q.narrow(0, 0, n * D).view({n, D});
      qb.copy_(slice(q, h).narrow(0, s, n)).mul_(scale);
      torch::Tensor o = slice(out_heads, h).narrow(0, s, n);
      attend_rows(qb, slice(k, h), slice(v, h), kn, scores, o, simd);
    }
  };
  const int workers = int(std::min<int64_t>(attention_workers(blocks.workers), items));
  if (workers <= 1) {
    work();
  } else {
    // Each worker's products on its own core: OpenBLAS's pool would split each thin product over the same cores.
    const SerialBlas serial;
    run_on_threads(workers, work);
  }
  return out_heads;
}

}  // namespace genplug::flux
