// Helpers shared by the text tests: golden safetensors tensors as torch tensors, closeness report.
#pragma once
#include <cstring>
#include <string>

#include <torch/types.h>

#include <genplug/safetensors.hpp>

namespace genplug::test {

inline torch::Tensor to_torch(const genplug::safetensors::TensorInfo& info) {
  using genplug::safetensors::DType;
  if (info.dtype == DType::I64) {
    torch::Tensor t = torch::empty(info.shape, torch::kLong);
    std::memcpy(t.data_ptr(), info.data, info.nbytes);
    return t;
  }
  std::vector<float> values = genplug::safetensors::to_float32(info);
  return torch::from_blob(values.data(), info.shape, torch::kFloat32).clone();
}

// max |a - b| / max |b|
inline double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  const double scale = b.abs().max().item<double>();
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>() / (scale > 0 ? scale : 1.0);
}

}  // namespace genplug::test
