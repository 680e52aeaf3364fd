// Single-head attention over pixels, as in the autoencoder's mid block (BFL AttnBlock).
#pragma once
#include <torch/types.h>

#include <genplug/flux/autoencoder.hpp>

namespace genplug::flux {

// softmax(q k^T / sqrt(C)) v for q, k, v of shape [B, N, C] (N = pixels). Queries are processed in chunks
// so that no chunk's score matrix exceeds chunking.max_score_elements; the N x N matrix is never built
// unless it fits in one chunk. Result [B, N, C] equals the unchunked formula up to float rounding.
torch::Tensor pixel_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              const AttentionChunking& chunking = {});

}  // namespace genplug::flux
