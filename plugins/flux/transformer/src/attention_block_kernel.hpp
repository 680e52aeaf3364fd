// One block of query rows of one attention head against all of its keys, float32, as one hand-vectorised kernel:
// FlashAttention-2's algorithm (Dao 2023) with the score and value products written as register tiles, so that
// scores are never packed, copied or re-read by a matrix library. No tensor library: plain float rows.
#pragma once
#include <cstdint>

#include "simd_level.hpp"

namespace genplug::flux {

// out = softmax(q k^T / sqrt(dim)) v for `rows` query rows against `keys` keys.
struct AttentionBlock {
  const float* q = nullptr;  // rows x dim, row r at q + r * q_stride
  int64_t q_stride = 0;
  int64_t rows = 0;
  const float* k = nullptr;  // keys x dim, packed by pack_attention_keys
  const float* v = nullptr;  // keys x value_dim, packed by pack_attention_values
  int64_t keys = 0;
  int64_t dim = 0;
  int64_t value_dim = 0;
  float* out = nullptr;  // rows x value_dim, row r at out + r * out_stride
  int64_t out_stride = 0;
};

// Keys (rows `stride` apart) into the panels attend_block reads at `level`: groups of its register tile's rows,
// each group stored feature by feature. keys x dim floats at `to`.
void pack_attention_keys(SimdLevel level, const float* k, int64_t stride, int64_t keys, int64_t dim, float* to);
// Values (rows `stride` apart) into panels of the register tile's rows of value features, each panel key by key.
// keys x value_dim floats at `to`.
void pack_attention_values(SimdLevel level, const float* v, int64_t stride, int64_t keys, int64_t value_dim,
                           float* to);

// The floats of workspace attend_block needs for up to `rows` query rows (the transposed queries and output, the
// scores of one group of queries over one key tile, and the running max, sum and rescaling per query).
int64_t attention_block_workspace(SimdLevel level, int64_t rows, int64_t dim, int64_t value_dim);

// Computes block.out with the kernel compiled for `level` (which this CPU must support). keys >= 1. The result
// depends only on the block's values, not on the thread or the workspace's previous contents.
void attend_block(SimdLevel level, const AttentionBlock& block, float* workspace);

// Keys per tile of the online softmax: the scores of one tile stay in the core's L1/L2 cache.
constexpr int64_t kAttentionKeyTile = 128;

}  // namespace genplug::flux
