// SingleStreamBlock (BFL layers.py): one stream over cat(txt, img); attention and MLP in parallel from one
// fused linear1, joined by linear2.
#pragma once
#include <genplug/flux/attention.hpp>

#include "gelu.hpp"
#include "modulation.hpp"
#include "qk_norm.hpp"

namespace genplug::flux::layers {

struct SingleStreamBlock {
  Linear linear1, linear2;
  QKNorm norm;
  Modulation modulation;
  int64_t hidden = 0, mlp_hidden = 0, heads = 0;

  SingleStreamBlock(const WeightReader& w, const std::string& p, const FluxConfig& c)
      : linear1(w, p + "linear1", c.hidden_size, 3 * c.hidden_size + c.mlp_hidden()),
        linear2(w, p + "linear2", c.hidden_size + c.mlp_hidden(), c.hidden_size),
        norm(w, p + "norm", c.head_dim()),
        modulation(w, p + "modulation", c.hidden_size, false),
        hidden(c.hidden_size),
        mlp_hidden(c.mlp_hidden()),
        heads(c.num_heads) {}

  torch::Tensor operator()(const torch::Tensor& x, const torch::Tensor& vec, const RotaryTables& pe,
                           int64_t budget) const {
    ModulationOut mod = modulation(vec)[0];
    torch::Tensor fused = linear1(mod.apply(layer_norm(x)));
    torch::Tensor qkv = fused.narrow(-1, 0, 3 * hidden), mlp = fused.narrow(-1, 3 * hidden, mlp_hidden);
    auto parts = split_qkv(qkv, heads);  // views into `fused`
    const torch::Tensor& v = parts[2];
    torch::Tensor q = norm_and_rotate({{norm.query_norm, parts[0]}}, pe, v.scalar_type());
    torch::Tensor k = norm_and_rotate({{norm.key_norm, parts[1]}}, pe, v.scalar_type());
    torch::Tensor attn = merge_heads(attention(q, k, v, budget));
    torch::Tensor out = linear2(cat_gelu(attn, mlp));
    return mod.gated(x, out);
  }
};

}  // namespace genplug::flux::layers
