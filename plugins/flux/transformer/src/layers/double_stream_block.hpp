// DoubleStreamBlock (BFL layers.py): image and text streams with their own weights, joint attention over
// cat(txt, img).
#pragma once
#include <genplug/flux/attention.hpp>

#include "gelu.hpp"
#include "modulation.hpp"
#include "qk_norm.hpp"

namespace genplug::flux::layers {

// One stream's weights: modulation, self-attention (qkv, QK norm, proj) and the GELU-tanh MLP.
struct StreamWeights {
  Modulation mod;
  Linear qkv, proj, mlp_in, mlp_out;
  QKNorm norm;
  StreamWeights() = default;
  StreamWeights(const WeightReader& w, const std::string& p, const FluxConfig& c)
      : mod(w, p + "_mod", c.hidden_size, true),
        qkv(w, p + "_attn.qkv", c.hidden_size, 3 * c.hidden_size, c.qkv_bias),
        proj(w, p + "_attn.proj", c.hidden_size, c.hidden_size),
        mlp_in(w, p + "_mlp.0", c.hidden_size, c.mlp_hidden()),
        mlp_out(w, p + "_mlp.2", c.mlp_hidden(), c.hidden_size),
        norm(w, p + "_attn.norm", c.head_dim()) {}
  torch::Tensor mlp(const torch::Tensor& x) const { return mlp_out(gelu_tanh_(mlp_in(x))); }
};

struct DoubleStreamBlock {
  StreamWeights img_w, txt_w;
  int64_t heads = 0;

  DoubleStreamBlock(const WeightReader& w, const std::string& prefix, const FluxConfig& c)
      : img_w(w, prefix + "img", c), txt_w(w, prefix + "txt", c), heads(c.num_heads) {}

  // Updates img [B, Li, H] and txt [B, Lt, H] in place of the caller's handles.
  void operator()(torch::Tensor& img, torch::Tensor& txt, const torch::Tensor& vec, const RotaryTables& pe,
                  int64_t budget) const {
    auto img_mod = img_w.mod(vec), txt_mod = txt_w.mod(vec);
    auto iqkv = split_qkv(img_w.qkv(img_mod[0].apply(layer_norm(img))), heads);
    auto tqkv = split_qkv(txt_w.qkv(txt_mod[0].apply(layer_norm(txt))), heads);
    torch::Tensor v = torch::cat({tqkv[2], iqkv[2]}, 2);  // the joint sequence: txt, then img
    torch::Tensor q = norm_and_rotate({{txt_w.norm.query_norm, tqkv[0]}, {img_w.norm.query_norm, iqkv[0]}}, pe,
                                      v.scalar_type());
    torch::Tensor k = norm_and_rotate({{txt_w.norm.key_norm, tqkv[1]}, {img_w.norm.key_norm, iqkv[1]}}, pe,
                                      v.scalar_type());
    torch::Tensor attn = merge_heads(attention(q, k, v, budget));
    const int64_t Lt = txt.size(1);
    torch::Tensor txt_attn = attn.narrow(1, 0, Lt), img_attn = attn.narrow(1, Lt, attn.size(1) - Lt);

    img = img_mod[0].gated(img, img_w.proj(img_attn));
    img = img_mod[1].gated(img, img_w.mlp(img_mod[1].apply(layer_norm(img))));
    txt = txt_mod[0].gated(txt, txt_w.proj(txt_attn));
    txt = txt_mod[1].gated(txt, txt_w.mlp(txt_mod[1].apply(layer_norm(txt))));
  }
};

}  // namespace genplug::flux::layers
