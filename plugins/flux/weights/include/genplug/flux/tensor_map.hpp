// Named tensors, e.g. a model's state dict under BFL names.
#pragma once
#include <map>
#include <string>

#include <torch/types.h>

namespace genplug::flux {

using TensorMap = std::map<std::string, torch::Tensor>;

}  // namespace genplug::flux
