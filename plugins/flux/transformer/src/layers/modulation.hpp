// Modulation (BFL layers.py): lin(silu(vec)) split into (shift, scale, gate) once (single) or twice (double).
#pragma once
#include "weights.hpp"

namespace genplug::flux::layers {

struct ModulationOut {
  torch::Tensor shift, scale, gate;  // [B, 1, H]
  // (1 + scale) * x + shift, in one pass over x
  torch::Tensor apply(const torch::Tensor& x) const { return torch::addcmul(shift, 1 + scale, x); }
  // x + gate * y, in one pass
  torch::Tensor gated(const torch::Tensor& x, const torch::Tensor& y) const { return torch::addcmul(x, gate, y); }
};

struct Modulation {
  Linear lin;
  int64_t multiplier = 3;
  Modulation() = default;
  Modulation(const WeightReader& w, const std::string& name, int64_t hidden, bool is_double)
      : lin(w, name + ".lin", hidden, (is_double ? 6 : 3) * hidden), multiplier(is_double ? 6 : 3) {}

  std::vector<ModulationOut> operator()(const torch::Tensor& vec) const {
    std::vector<torch::Tensor> c = lin(torch::silu(vec)).unsqueeze(1).chunk(multiplier, -1);
    std::vector<ModulationOut> out;
    for (size_t i = 0; i + 2 < c.size(); i += 3) out.push_back({c[i], c[i + 1], c[i + 2]});
    return out;
  }
};

}  // namespace genplug::flux::layers
