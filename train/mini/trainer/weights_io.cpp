#include "weights_io.hpp"

#include <cstring>
#include <stdexcept>
#include <vector>

#include <genplug/safetensors.hpp>

namespace genplug::mini {

void save_tensors(const std::filesystem::path& path, const std::map<std::string, torch::Tensor>& tensors,
                  const std::map<std::string, std::string>& metadata) {
  std::vector<safetensors::TensorData> out;
  for (const auto& [name, tensor] : tensors) {
    const torch::Tensor t = tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    // A diverged run (a rate far too high) must fail, not ship NaN weights that render black.
    if (!torch::isfinite(t).all().item<bool>())
      throw std::runtime_error("not writing " + path.string() + ": '" + name +
                               "' holds NaN or infinite values (training diverged; lower the learning rate)");
    safetensors::TensorData d;
    d.name = name;
    d.dtype = safetensors::DType::F32;
    d.shape = t.sizes().vec();
    d.bytes.resize(std::size_t(t.numel()) * sizeof(float));
    if (!d.bytes.empty()) std::memcpy(d.bytes.data(), t.data_ptr<float>(), d.bytes.size());
    out.push_back(std::move(d));
  }
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  safetensors::write_file(path, out, metadata);
}

}  // namespace genplug::mini
