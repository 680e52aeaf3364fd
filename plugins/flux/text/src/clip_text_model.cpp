#include <genplug/flux/text/clip_text_model.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <genplug/flux/float32_at_least.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace genplug::flux::text {

namespace {

std::string layer_key(int64_t i, const std::string& rest) {
  return "text_model.encoder.layers." + std::to_string(i) + "." + rest;
}

torch::Tensor quick_gelu(const torch::Tensor& x) { return x * torch::sigmoid(1.702 * x); }

}  // namespace

ClipTextModel ClipTextModel::from_weights(const TextWeights& w, int64_t num_heads) {
  ClipTextModel m;
  ClipTextConfig& c = m.config_;
  m.token_embedding_ = w.at("text_model.embeddings.token_embedding.weight");
  m.position_embedding_ = w.at("text_model.embeddings.position_embedding.weight");
  if (m.token_embedding_.dim() != 2 || m.position_embedding_.dim() != 2)
    throw std::runtime_error("'" + w.source.string() + "': CLIP embeddings are not 2-D");
  c.vocab_size = m.token_embedding_.size(0);
  c.hidden_size = m.token_embedding_.size(1);
  c.max_positions = m.position_embedding_.size(0);
  w.at("text_model.embeddings.position_embedding.weight", {c.max_positions, c.hidden_size});
  c.num_heads = num_heads > 0 ? num_heads : std::max<int64_t>(1, c.hidden_size / 64);
  if (c.hidden_size % c.num_heads != 0)
    throw std::runtime_error("CLIP: hidden size " + std::to_string(c.hidden_size) + " is not divisible by " +
                             std::to_string(c.num_heads) + " heads");
  c.intermediate_size = w.at(layer_key(0, "mlp.fc1.weight")).size(0);
  c.num_layers = 0;
  while (w.listed(layer_key(c.num_layers, "self_attn.q_proj.weight"))) ++c.num_layers;
  const int64_t h = c.hidden_size, f = c.intermediate_size;
  for (int64_t i = 0; i < c.num_layers; ++i) {
    Layer l;
    l.ln1_w = w.at(layer_key(i, "layer_norm1.weight"), {h});
    l.ln1_b = w.at(layer_key(i, "layer_norm1.bias"), {h});
    l.q_w = w.at(layer_key(i, "self_attn.q_proj.weight"), {h, h});
    l.q_b = w.at(layer_key(i, "self_attn.q_proj.bias"), {h});
    l.k_w = w.at(layer_key(i, "self_attn.k_proj.weight"), {h, h});
    l.k_b = w.at(layer_key(i, "self_attn.k_proj.bias"), {h});
    l.v_w = w.at(layer_key(i, "self_attn.v_proj.weight"), {h, h});
    l.v_b = w.at(layer_key(i, "self_attn.v_proj.bias"), {h});
    l.out_w = w.at(layer_key(i, "self_attn.out_proj.weight"), {h, h});
    l.out_b = w.at(layer_key(i, "self_attn.out_proj.bias"), {h});
    l.ln2_w = w.at(layer_key(i, "layer_norm2.weight"), {h});
    l.ln2_b = w.at(layer_key(i, "layer_norm2.bias"), {h});
    l.fc1_w = w.at(layer_key(i, "mlp.fc1.weight"), {f, h});
    l.fc1_b = w.at(layer_key(i, "mlp.fc1.bias"), {f});
    l.fc2_w = w.at(layer_key(i, "mlp.fc2.weight"), {h, f});
    l.fc2_b = w.at(layer_key(i, "mlp.fc2.bias"), {h});
    m.layers_.push_back(std::move(l));
  }
  m.final_ln_w_ = w.at("text_model.final_layer_norm.weight", {h});
  m.final_ln_b_ = w.at("text_model.final_layer_norm.bias", {h});
  return m;
}

TextWeights ClipTextModel::random_weights(const ClipTextConfig& c, uint64_t seed, torch::Device device, torch::ScalarType dtype) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto randn = [&](std::vector<int64_t> shape, double stddev) {
    return (torch::randn(shape, gen, torch::TensorOptions().dtype(torch::kFloat32)) * stddev).to(device, dtype);
  };
  const int64_t h = c.hidden_size, f = c.intermediate_size;
  TextWeights w;
  w.source = "<random CLIP>";
  w.tensors["text_model.embeddings.token_embedding.weight"] = randn({c.vocab_size, h}, 0.5);
  w.tensors["text_model.embeddings.position_embedding.weight"] = randn({c.max_positions, h}, 0.5);
  const double in_std = 1.0 / std::sqrt(static_cast<double>(h));
  for (int64_t i = 0; i < c.num_layers; ++i) {
    for (const char* ln : {"layer_norm1", "layer_norm2"}) {
      w.tensors[layer_key(i, std::string(ln) + ".weight")] = 1.0 + randn({h}, 0.05);
      w.tensors[layer_key(i, std::string(ln) + ".bias")] = randn({h}, 0.05);
    }
    for (const char* p : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      w.tensors[layer_key(i, std::string("self_attn.") + p + ".weight")] = randn({h, h}, in_std);
      w.tensors[layer_key(i, std::string("self_attn.") + p + ".bias")] = randn({h}, 0.05);
    }
    w.tensors[layer_key(i, "mlp.fc1.weight")] = randn({f, h}, in_std);
    w.tensors[layer_key(i, "mlp.fc1.bias")] = randn({f}, 0.05);
    w.tensors[layer_key(i, "mlp.fc2.weight")] = randn({h, f}, 1.0 / std::sqrt(static_cast<double>(f)));
    w.tensors[layer_key(i, "mlp.fc2.bias")] = randn({h}, 0.05);
  }
  w.tensors["text_model.final_layer_norm.weight"] = 1.0 + randn({h}, 0.05);
  w.tensors["text_model.final_layer_norm.bias"] = randn({h}, 0.05);
  return w;
}

ClipTextModel ClipTextModel::random(const ClipTextConfig& c, uint64_t seed, torch::Device device, torch::ScalarType dtype) {
  TextWeights w = random_weights(c, seed, device, dtype);
  return from_weights(w, c.num_heads);
}

torch::Tensor ClipTextModel::attention(const Layer& l, const torch::Tensor& x, const torch::Tensor& causal_mask) const {
  const int64_t batch = x.size(0), length = x.size(1);
  const int64_t head_dim = config_.hidden_size / config_.num_heads;
  const double scale = std::pow(static_cast<double>(head_dim), -0.5);
  auto heads = [&](const torch::Tensor& t) {
    return t.view({batch, length, config_.num_heads, head_dim}).transpose(1, 2);
  };
  const torch::Tensor q = heads(torch::linear(x, l.q_w, l.q_b) * scale);
  const torch::Tensor k = heads(torch::linear(x, l.k_w, l.k_b));
  const torch::Tensor v = heads(torch::linear(x, l.v_w, l.v_b));
  torch::Tensor scores = torch::matmul(q, k.transpose(2, 3)) + causal_mask.to(q.scalar_type());
  const torch::Tensor p = torch::softmax(scores.to(float32_at_least(scores.scalar_type())), -1).to(q.scalar_type());
  const torch::Tensor out = torch::matmul(p, v).transpose(1, 2).contiguous().view({batch, length, -1});
  return torch::linear(out, l.out_w, l.out_b);
}

torch::Tensor ClipTextModel::mlp(const Layer& l, const torch::Tensor& x) const {
  return torch::linear(quick_gelu(torch::linear(x, l.fc1_w, l.fc1_b)), l.fc2_w, l.fc2_b);
}

ClipTextOutput ClipTextModel::forward(const torch::Tensor& ids_in) const {
  if (ids_in.dim() != 2) throw std::invalid_argument("CLIP text model: ids must be [batch, length]");
  const int64_t length = ids_in.size(1);
  if (length < 1 || length > config_.max_positions)
    throw std::invalid_argument("CLIP text model: " + std::to_string(length) + " tokens, the model has " +
                                std::to_string(config_.max_positions) + " positions");
  const torch::Tensor ids = ids_in.to(token_embedding_.device());
  if (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= config_.vocab_size)
    throw std::invalid_argument("CLIP text model: token id " + std::to_string(ids.max().item<int64_t>()) +
                                " outside the embedding's " + std::to_string(config_.vocab_size) + " rows");
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::embedding(token_embedding_, ids) + position_embedding_.slice(0, 0, length).unsqueeze(0);
  // HF's causal mask: the dtype's lowest value above the diagonal.
  const torch::Tensor causal =
      torch::full({length, length}, std::numeric_limits<float>::lowest(),
                  torch::TensorOptions().dtype(torch::kFloat32).device(x.device()))
          .triu(1);
  for (const Layer& l : layers_) {
    x = x + attention(l, torch::layer_norm(x, {config_.hidden_size}, l.ln1_w, l.ln1_b, config_.eps), causal);
    x = x + mlp(l, torch::layer_norm(x, {config_.hidden_size}, l.ln2_w, l.ln2_b, config_.eps));
  }
  ClipTextOutput out;
  out.last_hidden_state = torch::layer_norm(x, {config_.hidden_size}, final_ln_w_, final_ln_b_, config_.eps);
  const torch::Tensor index = ids.argmax(-1);
  out.pooled = out.last_hidden_state.index({torch::arange(ids.size(0), index.options()), index});
  return out;
}

}  // namespace genplug::flux::text
