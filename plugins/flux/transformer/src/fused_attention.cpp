// The fused attention path (attention.hpp): attend_block's kernel over (batch x head slice, block of query rows)
// items. The kernel reads the queries through their row stride, and the keys and values packed into its panels,
// which each worker packs for the slice it works on. So that a slice is packed once rather than by every worker,
// the workers take whole slices in turn and run all of a slice's blocks; one that finds no slice left helps
// with the blocks of one still running (packing it too), so that all end together.
#include <genplug/flux/attention.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

#include "attention_block_kernel.hpp"
#include "worker_threads.hpp"

namespace genplug::flux {
static_assert(kFusedAttentionKeyTile == kAttentionKeyTile);

namespace {

// The (batch x head) slices of a [B, heads, L, D] tensor whose last dimension is contiguous.
template <class Float> struct Slices {
  Float* data;
  int64_t batch_stride, head_stride, row_stride, heads;
  Float* at(int64_t slice) const { return data + (slice / heads) * batch_stride + (slice % heads) * head_stride; }
};
Slices<const float> slices_of(const torch::Tensor& t) {
  return {t.data_ptr<float>(), t.stride(0), t.stride(1), t.stride(2), t.size(1)};
}

// Who runs which block: a slice at a time per worker, from a shared counter, then (once every slice has been
// taken) blocks of a slice still running. Thread-safe; take_block(h) hands out each of a slice's blocks once.
class SliceTurns {
 public:
  SliceTurns(int64_t slices, int64_t blocks) : blocks_(blocks), next_block_(size_t(slices)) {
    for (auto& n : next_block_) n.store(0, std::memory_order_relaxed);
  }
  // A fresh slice, else the running slice with the most blocks left (at least two: joining costs a packing, a
  // third to half of a block's time at head dim 128), else -1.
  int64_t take_slice() {
    const int64_t fresh = next_slice_++;
    if (fresh < int64_t(next_block_.size())) return fresh;
    int64_t best = -1, most = 1;
    for (size_t h = 0; h < next_block_.size(); ++h) {
      const int64_t left = blocks_ - next_block_[h].load(std::memory_order_relaxed);
      if (left > most) best = int64_t(h), most = left;
    }
    return best;
  }
  // The next block of slice h, or -1 when all of them have been taken.
  int64_t take_block(int64_t h) {
    const int64_t block = next_block_[size_t(h)]++;
    return block < blocks_ ? block : -1;
  }

 private:
  const int64_t blocks_;
  std::atomic<int64_t> next_slice_{0};
  std::vector<std::atomic<int64_t>> next_block_;
};

}  // namespace

int64_t fused_attention_rows() { return simd_level() == SimdLevel::avx512 ? 96 : 48; }

// Measured on the 2026-12-04 EPYC, two workers (docs/performance.md, "Attention alone"): 288 against 96 rows was
// 0.98x as fast at 4 608 keys (K and V 4.5 MiB), 1.05x at 8 192 (8 MiB) and 1.10x at 16 384; AVX2's 144 against
// 48, 1.12x at 16 384.
int64_t fused_attention_rows(int64_t keys, int64_t dim) {
  const bool wide = 2 * keys * dim * int64_t(sizeof(float)) >= kFusedAttentionWideBlockBytes;
  return fused_attention_rows() * (wide ? 3 : 1);
}

int64_t fused_attention_query_block(int64_t queries, int64_t keys, int64_t dim, int64_t most) {
  return evened_run(std::max<int64_t>(1, queries), most > 0 ? most : fused_attention_rows(keys, dim));
}

torch::Tensor fused_attention(const torch::Tensor& q_in, const torch::Tensor& k_in, const torch::Tensor& v_in,
                              FusedAttentionBlocks blocks) {
  const auto cpu_f32 = [](const torch::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == torch::kFloat32; };
  TORCH_CHECK(cpu_f32(q_in) && cpu_f32(k_in) && cpu_f32(v_in), "fused_attention: float32 CPU tensors only");
  TORCH_CHECK(q_in.dim() == 4 && k_in.dim() == 4 && v_in.dim() == 4, "fused_attention: [B, heads, L, D] tensors");
  TORCH_CHECK(k_in.size(0) == q_in.size(0) && v_in.size(0) == q_in.size(0) && k_in.size(1) == q_in.size(1) &&
                  v_in.size(1) == q_in.size(1),
              "fused_attention: q, k and v differ in batch or heads");
  TORCH_CHECK(k_in.size(3) == q_in.size(3) && v_in.size(2) == k_in.size(2),
              "fused_attention: k must have q's head dim and v k's tokens");
  // The kernel reads rows through a stride; the features of a row must be adjacent.
  const auto rows = [](const torch::Tensor& t) { return t.stride(3) == 1 ? t : t.contiguous(); };
  const torch::Tensor q = rows(q_in), k = rows(k_in), v = rows(v_in);
  const int64_t B = q.size(0), H = q.size(1), Lq = q.size(2), Lk = k.size(2), D = q.size(3), Dv = v.size(3);
  TORCH_CHECK(Lk > 0, "fused_attention: no keys");
  torch::Tensor out = torch::empty({B, Lq, H, Dv}, q.options());
  const torch::Tensor out_heads = out.permute({0, 2, 1, 3});
  if (Lq == 0 || B * H == 0) return out_heads;
  const int64_t qn = fused_attention_query_block(Lq, Lk, D, blocks.queries);
  const int64_t row_blocks = (Lq + qn - 1) / qn, items = B * H * row_blocks;
  const Slices<const float> qs = slices_of(q), ks = slices_of(k), vs = slices_of(v);
  const Slices<float> os{out.data_ptr<float>(), Lq * H * Dv, Dv, H * Dv, H};  // [B, Lq, H, Dv] memory
  const SimdLevel simd = simd_level();
  const int64_t slices = B * H;
  SliceTurns turns(slices, row_blocks);
  auto work = [&] {
    // Allocated with the worker's first block (a worker that gets none costs nothing), uninitialised: the kernel
    // and the packing write before they read (a vector would zero megabytes per call).
    std::unique_ptr<float[]> workspace, k_panels, v_panels;
    for (int64_t h = turns.take_slice(); h >= 0; h = turns.take_slice()) {
      bool packed = false;
      for (int64_t block = turns.take_block(h); block >= 0; block = turns.take_block(h)) {
        if (!workspace) {
          workspace.reset(new float[size_t(attention_block_workspace(simd, qn, D, Dv))]);
          k_panels.reset(new float[size_t(Lk * D)]);
          v_panels.reset(new float[size_t(Lk * Dv)]);
        }
        if (!packed) {
          pack_attention_keys(simd, ks.at(h), ks.row_stride, Lk, D, k_panels.get());
          pack_attention_values(simd, vs.at(h), vs.row_stride, Lk, Dv, v_panels.get());
          packed = true;
        }
        const int64_t s = block * qn;
        AttentionBlock b;
        b.q = qs.at(h) + s * qs.row_stride;
        b.q_stride = qs.row_stride;
        b.rows = std::min(qn, Lq - s);
        b.k = k_panels.get();
        b.v = v_panels.get();
        b.keys = Lk;
        b.dim = D;
        b.value_dim = Dv;
        b.out = os.at(h) + s * os.row_stride;
        b.out_stride = os.row_stride;
        attend_block(simd, b, workspace.get());
      }
    }
  };
  run_on_threads(int(std::min<int64_t>(attention_workers(blocks.workers), items)), work);
  return out_heads;
}

}  // namespace genplug::flux
