// Softmax attention whose memory grows linearly with the number of tokens: the L x L score matrix is never
// built whole. libtorch >= 2.0: torch::scaled_dot_product_attention. Older: query-chunked attention, the
// chunk sized so that one chunk's scores fit a memory budget.
#pragma once
#include <cstdint>

#include <torch/types.h>

namespace genplug::flux {

// Default budget for one chunk's score matrix (and its softmax).
constexpr int64_t kDefaultAttentionBudgetBytes = int64_t(256) << 20;

// q, k, v: [B, heads, L, D]; returns [B, heads, Lq, D]. Scale 1/sqrt(D), no mask.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        int64_t budget_bytes = kDefaultAttentionBudgetBytes);

// The query-chunked path (used by attention() on libtorch < 2.0); chunk = queries per chunk.
torch::Tensor chunked_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                int64_t chunk);

// Queries per chunk so that a chunk's scores and softmax fit `budget_bytes` (at least 1).
int64_t attention_chunk_size(const torch::Tensor& q, const torch::Tensor& k, int64_t budget_bytes);

// softmax(q k^T / sqrt(D)) v with the whole score matrix: the reference for tests.
torch::Tensor full_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

}  // namespace genplug::flux
