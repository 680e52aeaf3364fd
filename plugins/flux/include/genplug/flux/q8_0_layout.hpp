// How a TensorMap carries a weight kept as GGUF Q8_0 blocks (not widened at load: an 8-bit checkpoint stays 8-bit
// in memory). "<name>" holds q, int8 [rows, cols]; "<name>.q8_0_scale" holds d, float16 [rows, cols / 32]; the
// weight is q * d, each d covering 32 consecutive values of a row. Producers: the GGUF loader, LoRA merges;
// consumers: the transformer's linear layers (layers/weights.hpp), which widen q * d per layer.
#pragma once
#include <cstdint>
#include <string>

namespace genplug::flux {

constexpr int64_t kQ8BlockValues = 32;

inline std::string q8_0_scale_name(const std::string& weight) { return weight + ".q8_0_scale"; }

}  // namespace genplug::flux
