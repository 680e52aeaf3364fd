// CLIP text transformer (HF CLIPTextModel): token + position embeddings, pre-LN layers with causal self-attention
// (scale head_dim^-0.5 on q) and a quick-GELU MLP, final LayerNorm; pooled output at argmax(ids) — the first
// end-of-text token for the OpenAI vocabulary (HF's legacy eos_token_id == 2 path used by clip-vit-large-patch14).
#pragma once
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include <genplug/flux/text/text_weights.hpp>

namespace genplug::flux::text {

struct ClipTextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  int64_t max_positions = 77;
  double eps = 1e-5;
};

struct ClipTextOutput {
  torch::Tensor last_hidden_state;  // [B, L, hidden]
  torch::Tensor pooled;             // [B, hidden]
};

class ClipTextModel {
 public:
  // Infers the config from shapes (`num_heads` is not stored: 64-wide heads unless given) and checks every
  // tensor's shape. HF names with the "text_model." prefix.
  static ClipTextModel from_weights(const TextWeights& weights, int64_t num_heads = 0);
  static ClipTextModel random(const ClipTextConfig& config, uint64_t seed, torch::Device device,
                              torch::ScalarType dtype);
  // The weights random() uses, under HF names (the mini model's trainer saves them, float32 on the CPU).
  static TextWeights random_weights(const ClipTextConfig& config, uint64_t seed, torch::Device device = torch::kCPU,
                                    torch::ScalarType dtype = torch::kFloat32);

  const ClipTextConfig& config() const { return config_; }

  // ids [B, L] int64 (L <= max_positions).
  ClipTextOutput forward(const torch::Tensor& ids) const;

 private:
  struct Layer {
    torch::Tensor ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, out_w, out_b;
    torch::Tensor ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
  };
  torch::Tensor attention(const Layer& l, const torch::Tensor& x, const torch::Tensor& causal_mask) const;
  torch::Tensor mlp(const Layer& l, const torch::Tensor& x) const;

  ClipTextConfig config_;
  torch::Tensor token_embedding_, position_embedding_;
  std::vector<Layer> layers_;
  torch::Tensor final_ln_w_, final_ln_b_;
};

}  // namespace genplug::flux::text
