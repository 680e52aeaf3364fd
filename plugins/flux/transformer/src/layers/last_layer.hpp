// LastLayer (BFL layers.py): adaLN modulation (shift first, then scale), LayerNorm, linear to the patch
// channels.
#pragma once
#include "modulation.hpp"

namespace genplug::flux::layers {

struct LastLayer {
  Linear linear, ada_ln;
  LastLayer(const WeightReader& w, const FluxConfig& c)
      : linear(w, "final_layer.linear", c.hidden_size, c.out_channels),
        ada_ln(w, "final_layer.adaLN_modulation.1", c.hidden_size, 2 * c.hidden_size) {}

  torch::Tensor operator()(const torch::Tensor& x, const torch::Tensor& vec) const {
    auto shift_scale = ada_ln(torch::silu(vec)).chunk(2, 1);
    const ModulationOut m{shift_scale[0].unsqueeze(1), shift_scale[1].unsqueeze(1), {}};
    return linear(m.apply_norm(x));
  }
};

}  // namespace genplug::flux::layers
