#include <genplug/flux/text/t5_encoder.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <genplug/flux/float32_at_least.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace genplug::flux::text {

namespace {

std::string block_key(int64_t i, const std::string& rest) { return "encoder.block." + std::to_string(i) + "." + rest; }

// HF NewGELUActivation (gelu_new): the tanh approximation, written out as HF does.
torch::Tensor gelu_new(const torch::Tensor& x) {
  return 0.5 * x * (1.0 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * torch::pow(x, 3.0))));
}

// HF T5Block: float16 hidden states are clamped after each sub-layer.
torch::Tensor clamp_fp16(const torch::Tensor& x) {
  if (x.scalar_type() != torch::kFloat16) return x;
  const double max = 65504.0;
  const double clamp = torch::isinf(x).any().item<bool>() ? max - 1000.0 : max;
  return torch::clamp(x, -clamp, clamp);
}

}  // namespace

T5Encoder T5Encoder::from_weights(TextWeights w, int64_t max_distance) {
  T5Encoder e;
  if (!w.listed("shared.weight") && w.has("encoder.embed_tokens.weight"))
    w.tensors["shared.weight"] = w.tensors["encoder.embed_tokens.weight"];
  e.shared_ = w.at("shared.weight");
  if (e.shared_.dim() != 2) throw std::runtime_error("'" + w.source.string() + "': shared.weight is not 2-D");
  T5Config& c = e.config_;
  c.vocab_size = e.shared_.size(0);
  c.d_model = e.shared_.size(1);
  c.max_distance = max_distance;
  e.relative_bias_ = w.at("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
  if (e.relative_bias_.dim() != 2)
    throw std::runtime_error("'" + w.source.string() + "': relative_attention_bias.weight is not 2-D");
  c.num_buckets = e.relative_bias_.size(0);
  c.num_heads = e.relative_bias_.size(1);
  // Buckets: T5's bucketing addresses num_buckets / 2 per direction, the exact ones (half of those) among them,
  // so it needs 4 or more (T5: 32); heads divide q's rows below.
  if (c.num_buckets < 4 || c.num_heads < 1)
    throw std::runtime_error("'" + w.source.string() + "': relative_attention_bias.weight is " +
                             std::to_string(c.num_buckets) + " x " + std::to_string(c.num_heads) +
                             ", expected at least 4 buckets x 1 head");
  // The log-spaced buckets run from max_exact = num_buckets / 4 to max_distance: a distance at or below it gives a
  // log of 0 or less, and bucket indices no embedding has.
  if (max_distance <= c.num_buckets / 4)
    throw std::runtime_error("'" + w.source.string() + "': relative_attention_max_distance " +
                             std::to_string(max_distance) + " must exceed " + std::to_string(c.num_buckets / 4) +
                             " (a quarter of its " + std::to_string(c.num_buckets) + " buckets)");
  const torch::Tensor& q0 = w.at(block_key(0, "layer.0.SelfAttention.q.weight"));
  if (q0.dim() != 2 || q0.size(0) % c.num_heads != 0)
    throw std::runtime_error("'" + w.source.string() + "': q.weight rows are not a multiple of " +
                             std::to_string(c.num_heads) + " heads");
  c.d_kv = q0.size(0) / c.num_heads;
  c.d_ff = w.at(block_key(0, "layer.1.DenseReluDense.wi_0.weight")).size(0);
  c.num_layers = 0;
  while (w.listed(block_key(c.num_layers, "layer.0.SelfAttention.q.weight"))) ++c.num_layers;
  const int64_t inner = c.num_heads * c.d_kv;
  for (int64_t i = 0; i < c.num_layers; ++i) {
    Block b;
    b.attn_norm = w.at(block_key(i, "layer.0.layer_norm.weight"), {c.d_model});
    b.q = w.at(block_key(i, "layer.0.SelfAttention.q.weight"), {inner, c.d_model});
    b.k = w.at(block_key(i, "layer.0.SelfAttention.k.weight"), {inner, c.d_model});
    b.v = w.at(block_key(i, "layer.0.SelfAttention.v.weight"), {inner, c.d_model});
    b.o = w.at(block_key(i, "layer.0.SelfAttention.o.weight"), {c.d_model, inner});
    b.ff_norm = w.at(block_key(i, "layer.1.layer_norm.weight"), {c.d_model});
    b.wi_0 = w.at(block_key(i, "layer.1.DenseReluDense.wi_0.weight"), {c.d_ff, c.d_model});
    b.wi_1 = w.at(block_key(i, "layer.1.DenseReluDense.wi_1.weight"), {c.d_ff, c.d_model});
    b.wo = w.at(block_key(i, "layer.1.DenseReluDense.wo.weight"), {c.d_model, c.d_ff});
    e.blocks_.push_back(std::move(b));
  }
  e.final_norm_ = w.at("encoder.final_layer_norm.weight", {c.d_model});
  return e;
}

TextWeights T5Encoder::random_weights(const T5Config& c, uint64_t seed, torch::Device device, torch::ScalarType dtype) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto randn = [&](std::vector<int64_t> shape, double stddev) {
    return (torch::randn(shape, gen, torch::TensorOptions().dtype(torch::kFloat32)) * stddev).to(device, dtype);
  };
  const int64_t inner = c.num_heads * c.d_kv;
  TextWeights w;
  w.source = "<random T5>";
  w.tensors["shared.weight"] = randn({c.vocab_size, c.d_model}, 1.0);
  w.tensors["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] =
      randn({c.num_buckets, c.num_heads}, 0.5);
  const double in_std = 1.0 / std::sqrt(static_cast<double>(c.d_model));
  for (int64_t i = 0; i < c.num_layers; ++i) {
    w.tensors[block_key(i, "layer.0.layer_norm.weight")] = 1.0 + randn({c.d_model}, 0.05);
    for (const char* m : {"q", "k", "v"})
      w.tensors[block_key(i, std::string("layer.0.SelfAttention.") + m + ".weight")] = randn({inner, c.d_model}, in_std);
    w.tensors[block_key(i, "layer.0.SelfAttention.o.weight")] = randn({c.d_model, inner}, 1.0 / std::sqrt(double(inner)));
    w.tensors[block_key(i, "layer.1.layer_norm.weight")] = 1.0 + randn({c.d_model}, 0.05);
    w.tensors[block_key(i, "layer.1.DenseReluDense.wi_0.weight")] = randn({c.d_ff, c.d_model}, in_std);
    w.tensors[block_key(i, "layer.1.DenseReluDense.wi_1.weight")] = randn({c.d_ff, c.d_model}, in_std);
    w.tensors[block_key(i, "layer.1.DenseReluDense.wo.weight")] = randn({c.d_model, c.d_ff}, 1.0 / std::sqrt(double(c.d_ff)));
  }
  w.tensors["encoder.final_layer_norm.weight"] = 1.0 + randn({c.d_model}, 0.05);
  return w;
}

T5Encoder T5Encoder::random(const T5Config& c, uint64_t seed, torch::Device device, torch::ScalarType dtype) {
  TextWeights w = random_weights(c, seed, device, dtype);
  return from_weights(std::move(w), c.max_distance);
}

torch::Tensor T5Encoder::relative_position_bucket(const torch::Tensor& relative_position, int64_t num_buckets,
                                                  int64_t max_distance) {
  // Bidirectional: half of the buckets for positive offsets.
  num_buckets /= 2;
  torch::Tensor buckets = (relative_position > 0).to(torch::kLong) * num_buckets;
  const torch::Tensor distance = torch::abs(relative_position);
  const int64_t max_exact = num_buckets / 2;
  const torch::Tensor is_small = distance < max_exact;
  torch::Tensor if_large =
      max_exact + (torch::log(distance.to(torch::kFloat) / max_exact) /
                   std::log(static_cast<double>(max_distance) / max_exact) * (num_buckets - max_exact))
                      .to(torch::kLong);
  if_large = torch::min(if_large, torch::full_like(if_large, num_buckets - 1));
  return buckets + torch::where(is_small, distance, if_large);
}

torch::Tensor T5Encoder::position_bias(int64_t length) const {
  const auto options = torch::TensorOptions().dtype(torch::kLong).device(relative_bias_.device());
  const torch::Tensor context = torch::arange(length, options).unsqueeze(1);
  const torch::Tensor memory = torch::arange(length, options).unsqueeze(0);
  const torch::Tensor buckets = relative_position_bucket(memory - context, config_.num_buckets, config_.max_distance);
  // [L, L, heads] -> [1, heads, L, L]
  return torch::embedding(relative_bias_, buckets).permute({2, 0, 1}).unsqueeze(0);
}

torch::Tensor T5Encoder::rms_norm(const torch::Tensor& x, const torch::Tensor& weight) const {
  // As Hugging Face's T5LayerNorm.
  const torch::Tensor variance = x.to(float32_at_least(x.scalar_type())).pow(2).mean(-1, /*keepdim=*/true);
  torch::Tensor h = x * torch::rsqrt(variance + config_.eps);
  if (weight.scalar_type() == torch::kFloat16 || weight.scalar_type() == torch::kBFloat16)
    h = h.to(weight.scalar_type());
  return weight * h;
}

torch::Tensor T5Encoder::self_attention(const Block& b, const torch::Tensor& x, const torch::Tensor& bias) const {
  const int64_t batch = x.size(0), length = x.size(1);
  auto heads = [&](const torch::Tensor& t) {
    return t.view({batch, length, config_.num_heads, config_.d_kv}).transpose(1, 2);
  };
  const torch::Tensor q = heads(torch::linear(x, b.q));
  const torch::Tensor k = heads(torch::linear(x, b.k));
  const torch::Tensor v = heads(torch::linear(x, b.v));
  torch::Tensor scores = torch::matmul(q, k.transpose(3, 2));  // no 1/sqrt(d_kv) in T5
  scores = scores + bias.to(scores.scalar_type());
  const torch::Tensor p =
      torch::softmax(scores.to(float32_at_least(scores.scalar_type())), -1).to(scores.scalar_type());
  const torch::Tensor out = torch::matmul(p, v).transpose(1, 2).contiguous().view({batch, length, -1});
  return torch::linear(out, b.o);
}

torch::Tensor T5Encoder::feed_forward(const Block& b, const torch::Tensor& x) const {
  torch::Tensor h = gelu_new(torch::linear(x, b.wi_0)) * torch::linear(x, b.wi_1);
  if (h.scalar_type() != b.wo.scalar_type()) h = h.to(b.wo.scalar_type());  // wo kept in float32 for float16
  return torch::linear(h, b.wo);
}

torch::Tensor T5Encoder::forward(const torch::Tensor& ids) const {
  if (ids.dim() != 2) throw std::invalid_argument("T5 encoder: ids must be [batch, length]");
  const int64_t max_id = ids.numel() ? ids.max().item<int64_t>() : 0;
  if (ids.numel() && (ids.min().item<int64_t>() < 0 || max_id >= config_.vocab_size))
    throw std::invalid_argument("T5 encoder: token id " + std::to_string(max_id) + " outside the embedding's " +
                                std::to_string(config_.vocab_size) + " rows");
  // No NoGradGuard here: the conditioner's encode() holds one, and the mini model's trainer fine-tunes the
  // encoder through this forward. With weights that do not require grad nothing is recorded either way.
  torch::Tensor x = torch::embedding(shared_, ids.to(shared_.device()));
  const torch::Tensor bias = position_bias(ids.size(1));
  for (const Block& b : blocks_) {
    x = clamp_fp16(x + self_attention(b, rms_norm(x, b.attn_norm), bias));
    x = clamp_fp16(x + feed_forward(b, rms_norm(x, b.ff_norm)));
  }
  return rms_norm(x, final_norm_);
}

}  // namespace genplug::flux::text
