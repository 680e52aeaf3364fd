// Softmax attention whose memory grows linearly with the number of tokens: the L x L score matrix is never
// built whole. libtorch >= 2.0: torch::scaled_dot_product_attention. Older: chunked attention over
// (batch x head) slices and query rows, the chunk sized so that its score matrix fits a memory budget
// (the softmax runs in place in one reused buffer).
#pragma once
#include <cstdint>

#include <torch/types.h>

namespace genplug::flux {

// Default budget for one chunk's score matrix.
// 16 MiB keeps a chunk inside a typical L3 cache; measured best of 4-256 MiB in docs/performance.md.
constexpr int64_t kDefaultAttentionBudgetBytes = int64_t(16) << 20;

// q, k, v: [B, heads, L, D]; returns [B, heads, Lq, D]. Scale 1/sqrt(D), no mask.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        int64_t budget_bytes = kDefaultAttentionBudgetBytes);

// One chunk of the chunked path: `heads` (batch x head) slices times `queries` query rows.
struct AttentionChunks {
  int64_t heads = 1;
  int64_t queries = 1;
};

// The chunk whose scores fit `budget_bytes`: as many query rows as fit (up to all), then as
// many heads as fit beside them; at least one row of one head.
AttentionChunks attention_chunks(const torch::Tensor& q, const torch::Tensor& k, int64_t budget_bytes);

// The chunked path (used by attention() on libtorch < 2.0).
torch::Tensor chunked_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                AttentionChunks chunks);
// All heads at once, `query_chunk` query rows per chunk.
torch::Tensor chunked_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                int64_t query_chunk);

// softmax(q k^T / sqrt(D)) v with the whole score matrix: the reference for tests.
torch::Tensor full_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

}  // namespace genplug::flux
