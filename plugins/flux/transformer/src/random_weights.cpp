// Random weights with real shapes (benchmarks, demos), and the dtype/device names of the config.
#include <genplug/flux/transformer.hpp>

#include <cmath>
#include <string>

#include <ATen/CPUGeneratorImpl.h>

#include <genplug/flux/presets.hpp>
#include <genplug/flux/name_text.hpp>
#include <genplug/flux/random_tensor.hpp>
#include <genplug/plugin.hpp>

namespace genplug::flux {

torch::Tensor random_flux_tensor(const std::string& name, at::IntArrayRef shape, const torch::TensorOptions& options,
                                 c10::optional<at::Generator> generator) {
  if (ends_with(name, ".scale")) return torch::ones(shape, options);
  if (ends_with(name, ".bias")) return torch::randn(shape, generator, options) * 0.02;
  return torch::randn(shape, generator, options) * (1.0 / std::sqrt(double(shape[1])));
}

TensorMap random_flux_weights(const FluxConfig& config, uint64_t seed, torch::Dtype dtype, torch::Device device) {
  // Drawn on the CPU in float32 from one seeded generator, tensor by tensor in a fixed order, so the
  // weights do not depend on the target device or dtype beyond the final rounding.
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  TensorMap out;
  for (const auto& [name, shape] : flux_weight_shapes(config)) {
    out.emplace(name, random_flux_tensor(name, shape, f32, gen).to(device, dtype));
  }
  return out;
}

torch::Dtype parse_dtype(const std::string& name) {
  if (name == "f32" || name == "float32" || name == "fp32") return torch::kFloat32;
  if (name == "bf16" || name == "bfloat16") return torch::kBFloat16;
  if (name == "f16" || name == "float16" || name == "fp16") return torch::kFloat16;
  throw ConfigError("dtype: '" + name + "' is not one of f32, bf16, f16");
}

torch::Device parse_device(const std::string& name) {
  torch::Device device = torch::kCPU;
  try {
    device = torch::Device(name);
  } catch (const std::exception&) {
    throw ConfigError("device: '" + name + "' is not one of cpu, cuda, cuda:N");
  }
  if (device.is_cpu()) {
    // libtorch reads "cpu:99" as a CPU with an index, which every CPU tensor then carries: there is one CPU.
    if (device.has_index() && device.index() != 0)
      throw ConfigError("device: '" + name + "' is not one of cpu, cuda, cuda:N (there is one CPU device: cpu)");
    return torch::kCPU;
  }
  if (!device.is_cuda()) throw ConfigError("device: '" + name + "' is not one of cpu, cuda, cuda:N");
  if (!at::hasCUDA()) throw Error(GENPLUG_E_DEVICE, "device: '" + name + "' requested but this libtorch has no CUDA device");
  return device;
}

}  // namespace genplug::flux
