// T5 v1.1 encoder (HF T5EncoderModel, encoder path): relative position buckets computed once by block 0,
// RMSNorm without mean, no 1/sqrt(d) attention scaling, gated tanh-GELU feed-forward, no biases.
// Padding tokens are attended (no attention mask), as BFL and diffusers FLUX do.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include <genplug/flux/text/text_weights.hpp>

namespace genplug::flux::text {

struct T5Config {
  int64_t vocab_size = 32128;
  int64_t d_model = 4096;
  int64_t d_kv = 64;
  int64_t num_heads = 64;
  int64_t d_ff = 10240;
  int64_t num_layers = 24;
  int64_t num_buckets = 32;
  int64_t max_distance = 128;
  double eps = 1e-6;
};

class T5Encoder {
 public:
  // Infers the config from the tensor shapes (max_distance is not stored in checkpoints) and checks every
  // tensor's shape. `shared.weight` may come as its alias `encoder.embed_tokens.weight`.
  static T5Encoder from_weights(TextWeights weights, int64_t max_distance = 128);
  // Random weights (tiny demo encoders), drawn from a generator seeded with `seed`.
  static T5Encoder random(const T5Config& config, uint64_t seed, torch::Device device, torch::ScalarType dtype);
  // The weights random() uses, under HF names (the mini model's trainer saves them, float32 on the CPU).
  static TextWeights random_weights(const T5Config& config, uint64_t seed, torch::Device device = torch::kCPU,
                                    torch::ScalarType dtype = torch::kFloat32);

  const T5Config& config() const { return config_; }

  // ids [B, L] int64 -> last_hidden_state [B, L, d_model]. Records autograd when the weights it was built
  // from require grad (from_weights keeps them, not copies); inference callers hold a NoGradGuard.
  torch::Tensor forward(const torch::Tensor& ids) const;

  // The relative position bias [1, heads, L, L] that block 0 computes and all blocks reuse.
  torch::Tensor position_bias(int64_t length) const;

  // HF T5Attention._relative_position_bucket (bidirectional).
  static torch::Tensor relative_position_bucket(const torch::Tensor& relative_position, int64_t num_buckets,
                                                int64_t max_distance);

 private:
  struct Block {
    torch::Tensor attn_norm, q, k, v, o;
    torch::Tensor ff_norm, wi_0, wi_1, wo;
  };
  torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight) const;
  torch::Tensor self_attention(const Block& b, const torch::Tensor& x, const torch::Tensor& bias) const;
  torch::Tensor feed_forward(const Block& b, const torch::Tensor& x) const;

  T5Config config_;
  torch::Tensor shared_;         // [vocab, d_model]
  torch::Tensor relative_bias_;  // [num_buckets, heads]
  std::vector<Block> blocks_;
  torch::Tensor final_norm_;
};

}  // namespace genplug::flux::text
