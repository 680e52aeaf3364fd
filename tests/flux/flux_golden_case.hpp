// The tiny FLUX golden case (tests/golden/flux): config, inputs and spectra, all read from the golden files.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <genplug/flux/flux_config.hpp>
#include <genplug/flux/rotary.hpp>

#include "flux_params.hpp"
#include "golden_tensors.hpp"

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
};

}  // namespace genplug::test
