// Test helpers: golden safetensors as torch tensors, and a relative comparison.
#pragma once
#include <algorithm>
#include <string>

#include <torch/types.h>

#include <genplug/flux/transformer.hpp>
#include <genplug/safetensors.hpp>

#include "golden.hpp"
#include "tensor_error.hpp"

namespace genplug::test {

// A float tensor of the file as float32 (float64 when the file stores F64).
inline torch::Tensor golden_tensor(const safetensors::File& file, const std::string& name) {
  const safetensors::TensorInfo& info = file.at(name);
  if (info.dtype == safetensors::DType::F64) {
    std::vector<double> v = safetensors::to_float64(info);
    return torch::from_blob(v.data(), info.shape, torch::kFloat64).clone();
  }
  std::vector<float> v = safetensors::to_float32(info);
  return torch::from_blob(v.data(), info.shape, torch::kFloat32).clone();
}

inline std::shared_ptr<const safetensors::File> golden_file(const std::string& relative) {
  return safetensors::File::open(golden(relative));
}

// Every tensor of a file, float32.
inline flux::TensorMap golden_tensor_map(const safetensors::File& file) {
  flux::TensorMap map;
  for (const auto& info : file.tensors()) map.emplace(info.name, golden_tensor(file, info.name).to(torch::kFloat32));
  return map;
}

}  // namespace genplug::test
