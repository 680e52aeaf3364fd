// The tiny FLUX golden case (tests/golden/flux): config, inputs and spectra, all read from the golden files.
#pragma once
#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <genplug/flux/flux_config.hpp>
#include <genplug/flux/rotary.hpp>
#include <genplug/flux/transformer.hpp>

#include "flux_params.hpp"
#include "golden_tensors.hpp"
#include "rounding_bound.hpp"

namespace genplug::test {

// A DyPE-style spectrum from {"freqs": [[axis 0], [axis 1], ...], "mscale": [...]}.
inline flux::RotarySpectrum spectrum_from_json(const nlohmann::json& j, const std::vector<int64_t>& axes_dim) {
  flux::RotarySpectrum s;
  s.axes_dim = axes_dim;
  for (const auto& axis : j.at("freqs"))
    for (double f : axis) s.freqs.push_back(f);
  for (double m : j.at("mscale")) s.amplitude.push_back(m);
  return s;
}

struct FluxGoldenCase {
  nlohmann::json info = read_json(golden("flux/flux_tiny_info.json"));
  std::shared_ptr<const safetensors::File> io = golden_file("flux/flux_tiny_io.safetensors");
  flux::FluxConfig config = flux_config_from_params(info.at("meta").at("params"));
  int64_t grid_h = info.at("grid_tokens_hw")[0];
  int64_t grid_w = info.at("grid_tokens_hw")[1];
  int64_t n_txt = info.at("n_txt");

  torch::Tensor io_tensor(const std::string& name) const { return golden_tensor(*io, name); }
  // The guidance input; undefined for a model without guidance embedding (the file then has none).
  torch::Tensor guidance() const { return io->find("guidance") ? io_tensor("guidance") : torch::Tensor(); }
  torch::Tensor ids() const { return flux::flux_position_ids(n_txt, grid_h, grid_w, int64_t(config.axes_dim.size())); }
  flux::RotarySpectrum plain() const { return flux::plain_spectrum(config.axes_dim, config.theta); }
  flux::RotarySpectrum dype() const { return spectrum_from_json(info.at("dype"), config.axes_dim); }

  // The BFL weights in float64 on the CPU, and their forward of a golden input: inputs widened (exactly), t the
  // float32 timestep, the tables of `spectrum` not rounded to float32 (or given). The exact output the rounding
  // bounds (rounding_bound.hpp) measure float32 forwards against. The timestep and guidance are embedded in float32
  // as our float32 run embeds them (the same values: e then counts what the network does with them), or exactly.
  enum class Embedding { float32, exact };
  flux::FluxTransformer exact_model() const {
    return {golden_tensor_map(*golden_file("flux/flux_tiny_bfl.safetensors")), config, torch::kFloat64};
  }
  torch::Tensor exact_forward(const flux::FluxTransformer& exact, const torch::Tensor& img, double t,
                              const flux::RotaryTables& tables, Embedding embedding = Embedding::float32) const {
    const auto wide = [](const torch::Tensor& x) { return x.defined() ? x.to(torch::kFloat64) : x; };
    const auto embedded = embedding == Embedding::exact ? torch::kFloat64 : torch::kFloat32;
    const torch::Tensor g = guidance();
    return exact.forward(wide(img), wide(io_tensor("txt")), torch::full({1}, t, torch::kFloat32).to(embedded),
                         wide(io_tensor("y")), g.defined() ? g.to(embedded) : g, {wide(tables.cos), wide(tables.sin)});
  }
  torch::Tensor exact_forward(const flux::FluxTransformer& exact, const torch::Tensor& img, double t,
                              const flux::RotarySpectrum& spectrum, Embedding embedding = Embedding::float32) const {
    return exact_forward(exact, img, t, flux::rotary_tables_float64(ids(), spectrum), embedding);
  }
  // What the reference rounds otherwise, in the exact forward `exact64` of img at t (rounding_bound.hpp's inputs):
  // twice what our float32 embedding does against the exact one (theirs, of other exp and cos, is as far at most),
  // and with plain RoPE what BFL's float32 tables do.
  double reference_inputs(const flux::FluxTransformer& exact, const torch::Tensor& exact64, const torch::Tensor& img,
                          double t, const flux::RotarySpectrum& spectrum, bool bfl_tables) const {
    double share = 2 * relative_error(exact_forward(exact, img, t, spectrum, Embedding::exact), exact64);
    if (bfl_tables) share += relative_error(exact_forward(exact, img, t, bfl_plain_tables()), exact64);
    return share;
  }
  // BFL's plain tables as it built them, in float32 (pe_plain: [..., L, D/2, 2, 2] rotation matrices
  // [[cos, -sin], [sin, cos]]): the reference's own rounding of an input (rounding_bound.hpp).
  flux::RotaryTables bfl_plain_tables() const {
    const torch::Tensor m = io_tensor("pe_plain");
    const torch::Tensor pairs = m.reshape({-1, m.size(-3), 2, 2}).select(-1, 0);
    return {pairs.select(-1, 0), pairs.select(-1, 1)};
  }
  // `out`, a float32 forward of the golden input at its timestep, against the reference's output `reference`
  // ("out": plain RoPE, on BFL's tables; "dype.out").
  RoundingBound golden_forward_bound(const flux::FluxTransformer& exact, const torch::Tensor& out,
                                     const flux::RotarySpectrum& spectrum, const std::string& reference) const {
    const double t = io_tensor("timesteps").item<double>();
    const torch::Tensor exact64 = exact_forward(exact, io_tensor("img"), t, spectrum);
    const double inputs = reference_inputs(exact, exact64, io_tensor("img"), t, spectrum, reference == "out");
    return rounding_bound(out, exact64.reshape(out.sizes()), io_tensor(reference).reshape(out.sizes()),
                          longest_reduction(), inputs);
  }
  // The longest sum of the forward: the single blocks' linear2 (hidden + MLP width), attention over every token,
  // the input projections, the timestep MLP (256 frequencies).
  int64_t longest_reduction() const {
    return std::max({config.hidden_size + config.mlp_hidden(), n_txt + grid_h * grid_w, config.context_in_dim,
                     config.vec_in_dim, config.in_channels, int64_t(256)});
  }
};

}  // namespace genplug::test
