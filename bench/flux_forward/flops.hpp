// Analytic FLOP counts of the FLUX forward (one multiply-add = 2 FLOPs; matrix products only — norms,
// activations, rotary and softmax are O(L*H) and ignored).
#pragma once
#include <cstdint>

#include <genplug/flux/flux_config.hpp>

namespace genplug::bench {

// softmax(q k^T) v over L queries and L keys, for all heads: two L x L x (heads*D) products.
inline double attention_flops(double L, double heads, double head_dim) { return 4.0 * L * L * heads * head_dim; }

inline double flux_forward_flops(const flux::FluxConfig& c, int64_t img_tokens, int64_t txt_tokens) {
  const double H = double(c.hidden_size), M = double(c.mlp_hidden());
  const double Li = double(img_tokens), Lt = double(txt_tokens), L = Li + Lt;
  double f = 0;
  f += 2 * Li * c.in_channels * H + 2 * Lt * c.context_in_dim * H;          // img_in, txt_in
  f += 2 * (256 * H + H * H) * (c.guidance_embed ? 2 : 1);                   // time_in (+ guidance_in)
  f += 2 * (c.vec_in_dim * H + H * H);                                       // vector_in
  const double per_token_double = 2 * H * 3 * H + 2 * H * H + 2 * 2 * H * M; // qkv, proj, mlp
  f += c.depth * (L * per_token_double + 2 * 2 * H * 6 * H + attention_flops(L, c.num_heads, c.head_dim()));
  const double per_token_single = 2 * H * (3 * H + M) + 2 * (H + M) * H;    // linear1, linear2
  f += c.depth_single_blocks * (L * per_token_single + 2 * H * 3 * H + attention_flops(L, c.num_heads, c.head_dim()));
  f += 2 * Li * H * c.out_channels + 2 * H * 2 * H;                          // final layer
  return f;
}

}  // namespace genplug::bench
