// Helpers shared by the autoencoder tests: golden sets, safetensors <-> torch, comparisons.
#pragma once
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include <torch/types.h>

#include <genplug/flux/autoencoder.hpp>
#include <genplug/safetensors.hpp>

#include "golden.hpp"
#include "tensor_error.hpp"

namespace genplug::test::vae {

using genplug::test::relative_error;

namespace fs = std::filesystem;

// One golden set in golden/vae: <stem>_info.json, <stem>_io.safetensors and the weights in both layouts.
struct GoldenSet {
  std::string stem;
  nlohmann::json info;
  fs::path io() const { return golden("vae/" + stem + "_io.safetensors"); }
  fs::path weights(const std::string& layout) const { return golden("vae/" + stem + "_" + layout + ".safetensors"); }
  fs::path diffusers_config() const { return golden("vae/" + stem + "_diffusers_config.json"); }

  // scale/shift (and the rest) of the golden's AutoEncoderParams.
  flux::AutoencoderConfig params() const {
    const auto& p = info.at("params");
    flux::AutoencoderConfig c;
    c.resolution = p.at("resolution");
    c.in_channels = p.at("in_channels");
    c.ch = p.at("ch");
    c.out_ch = p.at("out_ch");
    c.ch_mult = p.at("ch_mult").get<std::vector<int64_t>>();
    c.num_res_blocks = p.at("num_res_blocks");
    c.z_channels = p.at("z_channels");
    c.scale_factor = p.at("scale_factor");
    c.shift_factor = p.at("shift_factor");
    return c;
  }
};

// Every *_info.json of golden/vae (so another golden set with the same layout is tested too).
inline std::vector<GoldenSet> golden_sets() {
  std::vector<GoldenSet> sets;
  const std::string suffix = "_info.json";
  for (const auto& entry : fs::directory_iterator(golden("vae"))) {
    const std::string name = entry.path().filename().string();
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      sets.push_back({name.substr(0, name.size() - suffix.size()), read_json(entry.path())});
  }
  std::sort(sets.begin(), sets.end(), [](const GoldenSet& a, const GoldenSet& b) { return a.stem < b.stem; });
  return sets;
}

inline torch::Tensor to_torch(const safetensors::TensorInfo& info) {
  const auto values = safetensors::to_float32(info);
  return torch::tensor(values, torch::kFloat).view(info.shape).clone();
}

inline torch::Tensor read_tensor(const fs::path& file, const std::string& name) {
  return to_torch(safetensors::File::open(file)->at(name));
}

inline flux::AutoencoderTensors read_all(const fs::path& file) {
  flux::AutoencoderTensors out;
  const auto opened = safetensors::File::open(file);  // keeps the mapping alive during the loop
  for (const auto& info : opened->tensors()) out.emplace(info.name, to_torch(info));
  return out;
}

// Raw copies of a file's tensors (any dtype), to rewrite them modified.
inline std::vector<safetensors::TensorData> raw_tensors(const fs::path& file) {
  std::vector<safetensors::TensorData> out;
  const auto opened = safetensors::File::open(file);
  for (const auto& info : opened->tensors()) {
    safetensors::TensorData t;
    t.name = info.name;
    t.dtype = info.dtype;
    t.shape = info.shape;
    t.bytes.assign(info.data, info.data + info.nbytes);
    out.push_back(std::move(t));
  }
  return out;
}

inline double max_abs(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble).cpu() - b.to(torch::kDouble).cpu()).abs().max().item<double>();
}

// PSNR in dB for images in [-1, 1] (peak-to-peak 2).
inline double psnr(const torch::Tensor& actual, const torch::Tensor& reference) {
  const double mse = (actual.to(torch::kDouble) - reference.to(torch::kDouble)).pow(2).mean().item<double>();
  return 10.0 * std::log10(4.0 / std::max(mse, 1e-300));
}

// A fresh empty folder under the system temp dir.
inline fs::path scratch_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("genplug_vae_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

}  // namespace genplug::test::vae
