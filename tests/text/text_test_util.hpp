// Helpers shared by the text tests: golden safetensors tensors as torch tensors, and their relative error.
#pragma once
#include <cstring>
#include <string>

#include <torch/types.h>

#include <genplug/safetensors.hpp>

#include "tensor_error.hpp"

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

}  // namespace genplug::test
