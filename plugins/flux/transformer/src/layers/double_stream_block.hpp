// DoubleStreamBlock (BFL layers.py): image and text streams with their own weights, joint attention over
// cat(txt, img).
#pragma once
#include <genplug/flux/attention.hpp>

#include "gelu.hpp"
#include "modulation.hpp"
#include "qk_norm.hpp"
#include "token_runs.hpp"

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

  // x [B, L, H] after attention: x + gate0 proj(attn) (one product over every token: the result is as large as
  // x), then + gate1 mlp(...) over runs of `token_run` tokens (token_runs.hpp), the MLP's two weights widened once
  // for every run.
  torch::Tensor after_attention(const torch::Tensor& x, const torch::Tensor& attn, const std::vector<ModulationOut>& m,
                                int64_t token_run) const {
    const torch::Tensor mid = m[0].gated(x, proj(attn));
    const torch::ScalarType dtype = attn.scalar_type();
    const DenseLinear up = mlp_in.dense(dtype, 0), down = mlp_out.dense(dtype, 1);
    return over_token_runs(mid, token_run, [&](int64_t begin, int64_t count) {
      const torch::Tensor xs = mid.narrow(1, begin, count);
      return m[1].gated(xs, down(gelu_tanh_(up(m[1].apply_norm(xs)))));
    });
  }
};

struct DoubleStreamBlock {
  StreamWeights img_w, txt_w;
  int64_t heads = 0;

  DoubleStreamBlock(const WeightReader& w, const std::string& prefix, const FluxConfig& c)
      : img_w(w, prefix + "img", c), txt_w(w, prefix + "txt", c), heads(c.num_heads) {}

  // Updates img [B, Li, H] and txt [B, Lt, H] in place of the caller's handles.
  void operator()(torch::Tensor& img, torch::Tensor& txt, const torch::Tensor& vec, const RotaryTables& pe,
                  const BlockMemory& memory) const {
    const auto img_mod = img_w.mod(vec), txt_mod = txt_w.mod(vec);
    const torch::Tensor attn = joint_attention(img, txt, img_mod[0], txt_mod[0], pe, memory.attention_budget);
    const int64_t Lt = txt.size(1);
    img = img_w.after_attention(img, attn.narrow(1, Lt, attn.size(1) - Lt), img_mod, memory.token_run);
    txt = txt_w.after_attention(txt, attn.narrow(1, 0, Lt), txt_mod, memory.token_run);
  }

 private:
  // merge_heads(attention) over cat(txt, img) [B, Lt + Li, H]; the qkv products, q, k and v are freed on return.
  torch::Tensor joint_attention(const torch::Tensor& img, const torch::Tensor& txt, const ModulationOut& img_mod,
                                const ModulationOut& txt_mod, const RotaryTables& pe, int64_t budget) const {
    auto iqkv = split_qkv(img_w.qkv(img_mod.apply_norm(img)), heads);
    auto tqkv = split_qkv(txt_w.qkv(txt_mod.apply_norm(txt)), heads);
    torch::Tensor v = torch::cat({tqkv[2], iqkv[2]}, 2);  // the joint sequence: txt, then img
    torch::Tensor q = norm_and_rotate({{txt_w.norm.query_norm, tqkv[0]}, {img_w.norm.query_norm, iqkv[0]}}, pe,
                                      v.scalar_type());
    torch::Tensor k = norm_and_rotate({{txt_w.norm.key_norm, tqkv[1]}, {img_w.norm.key_norm, iqkv[1]}}, pe,
                                      v.scalar_type());
    return merge_heads(attention(q, k, v, budget));
  }
};

}  // namespace genplug::flux::layers
