// QKNorm (BFL layers.py): RMSNorm with a learnt scale over each head's features, computed in float32 (in
// float64 for float64 inputs: genplug-mini-precision's reference trajectory).
#pragma once
#include "weights.hpp"

namespace genplug::flux::layers {

struct RMSNorm {
  torch::Tensor scale;  // [D]
  torch::Tensor operator()(const torch::Tensor& x) const {
    torch::Tensor x32 = x.scalar_type() == torch::kFloat64 ? x : x.to(torch::kFloat32);
    torch::Tensor r = torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + 1e-6);
    return (x32 * r).to(x.scalar_type()) * scale;
  }
};

struct QKNorm {
  RMSNorm query_norm, key_norm;
  QKNorm() = default;
  QKNorm(const WeightReader& w, const std::string& name, int64_t head_dim)
      : query_norm{w.take(name + ".query_norm.scale", {head_dim})},
        key_norm{w.take(name + ".key_norm.scale", {head_dim})} {}
};

// [B, L, 3 * heads * D] -> q, k, v each [B, heads, L, D] (BFL "B L (K H D) -> K B H L D").
inline std::vector<torch::Tensor> split_qkv(const torch::Tensor& qkv, int64_t heads) {
  const int64_t B = qkv.size(0), L = qkv.size(1), D = qkv.size(2) / (3 * heads);
  return qkv.view({B, L, 3, heads, D}).permute({2, 0, 3, 1, 4}).unbind(0);
}

// [B, heads, L, D] -> [B, L, heads * D]
inline torch::Tensor merge_heads(const torch::Tensor& x) {
  return x.transpose(1, 2).reshape({x.size(0), x.size(2), x.size(1) * x.size(3)});
}

}  // namespace genplug::flux::layers
