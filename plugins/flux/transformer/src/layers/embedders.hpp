// MLPEmbedder (BFL layers.py): out_layer(silu(in_layer(x))), for time, guidance and the pooled vector.
#pragma once
#include "weights.hpp"

namespace genplug::flux::layers {

struct MLPEmbedder {
  Linear in_layer, out_layer;
  MLPEmbedder() = default;
  MLPEmbedder(const WeightReader& w, const std::string& name, int64_t in_dim, int64_t hidden)
      : in_layer(w, name + ".in_layer", in_dim, hidden), out_layer(w, name + ".out_layer", hidden, hidden) {}
  torch::Tensor operator()(const torch::Tensor& x) const { return out_layer(torch::silu(in_layer(x))); }
};

}  // namespace genplug::flux::layers
