// Taking named parameters out of a TensorMap: shape-checked, converted once to the model dtype/device.
#pragma once
#include <sstream>
#include <string>
#include <vector>

#include <genplug/flux/transformer.hpp>
#include <genplug/plugin.hpp>

namespace genplug::flux::layers {

inline std::string shape_text(c10::IntArrayRef s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

struct WeightReader {
  const TensorMap& map;
  torch::Dtype dtype;
  torch::Device device;

  torch::Tensor take(const std::string& name, std::vector<int64_t> shape) const {
    auto it = map.find(name);
    if (it == map.end()) throw Error(GENPLUG_E_IO, "transformer weights: tensor '" + name + "' is missing");
    const torch::Tensor& t = it->second;
    if (t.sizes() != c10::IntArrayRef(shape))
      throw Error(GENPLUG_E_CONFIG, "transformer weights: tensor '" + name + "' has shape " +
                                        shape_text(t.sizes()) + ", the config needs " + shape_text(shape));
    return t.to(device, dtype).contiguous();
  }
};

// y = x W^T + b (PyTorch layout [out, in]).
struct Linear {
  torch::Tensor weight, bias;
  Linear() = default;
  Linear(const WeightReader& w, const std::string& name, int64_t in, int64_t out, bool has_bias = true)
      : weight(w.take(name + ".weight", {out, in})) {
    if (has_bias) bias = w.take(name + ".bias", {out});
  }
  torch::Tensor operator()(const torch::Tensor& x) const { return torch::linear(x, weight, bias); }
};

// LayerNorm(H, elementwise_affine=False, eps=1e-6).
inline torch::Tensor layer_norm(const torch::Tensor& x) {
  return torch::layer_norm(x, {x.size(-1)}, {}, {}, 1e-6);
}

inline torch::Tensor gelu_tanh(const torch::Tensor& x) { return torch::gelu(x, "tanh"); }

}  // namespace genplug::flux::layers
