// SingleStreamBlock (BFL layers.py): one stream over cat(txt, img); attention and MLP in parallel from one
// fused linear1, joined by linear2.
#pragma once
#include <utility>

#include <genplug/flux/attention.hpp>

#include "gelu.hpp"
#include "modulation.hpp"
#include "qk_norm.hpp"
#include "token_runs.hpp"

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

  // x [B, L, H]. Attention over every token; the MLP half of linear1, GELU, linear2 and the gate over runs of
  // `token_run` tokens (token_runs.hpp), each run's LayerNorm and modulation recomputed (one cheap pass) rather
  // than kept for the whole sequence. linear1's two halves are products of their own rows: the same sums, up to
  // the rounding of a product kernel chosen for another shape.
  torch::Tensor operator()(const torch::Tensor& x, const torch::Tensor& vec, const RotaryTables& pe,
                           const BlockMemory& memory) const {
    const ModulationOut mod = modulation(vec)[0];
    torch::Tensor xm = mod.apply_norm(x);
    const torch::Tensor attn = attention_part(std::move(xm), pe, memory.attention_budget);
    const torch::ScalarType dtype = attn.scalar_type();
    const DenseLinear mlp_in = linear1.rows(3 * hidden, mlp_hidden).dense(dtype, 0), out = linear2.dense(dtype, 1);
    return over_token_runs(x, memory.token_run, [&](int64_t begin, int64_t count) {
      const torch::Tensor xs = x.narrow(1, begin, count);
      return mod.gated(xs, out(cat_gelu(attn.narrow(1, begin, count), mlp_in(mod.apply_norm(xs)))));
    });
  }

 private:
  // merge_heads(attention) of the modulated input xm [B, L, H], released once the qkv product is made; that
  // product, q and k are freed on return.
  torch::Tensor attention_part(torch::Tensor xm, const RotaryTables& pe, int64_t budget) const {
    const torch::Tensor qkv = linear1.rows(0, 3 * hidden)(xm);
    xm.reset();
    auto parts = split_qkv(qkv, heads);  // views into qkv
    const torch::Tensor& v = parts[2];
    torch::Tensor q = norm_and_rotate({{norm.query_norm, parts[0]}}, pe, v.scalar_type());
    torch::Tensor k = norm_and_rotate({{norm.key_norm, parts[1]}}, pe, v.scalar_type());
    return merge_heads(attention(q, k, v, budget));
  }
};

}  // namespace genplug::flux::layers
