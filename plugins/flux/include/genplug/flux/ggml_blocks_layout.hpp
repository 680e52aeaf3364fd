// How a TensorMap carries a weight kept as a GGUF file's blocks of a type other than Q8_0 (Q4_0 ... Q6_K, 2.6 to
// 6.6 bits a weight; not widened at load): "<name>" holds the blocks' bytes, uint8 [rows, bytes per row], each
// row's blocks one after the other as the file has them; "<name>.ggml_type" holds the ggml type number, an int32
// tensor of one element. CPU only. Producers: the GGUF loader. Consumers: the transformer's linear layers
// (layers/weights.hpp), which decode a layer's rows per product; LoRA merges, which decode and re-block to Q8_0
// (q8_0_layout.hpp).
#pragma once
#include <cstdint>
#include <string>

#include <genplug/gguf.hpp>

namespace genplug::flux {

inline std::string ggml_type_key(const std::string& weight) { return weight + ".ggml_type"; }

// The values a row of `row_bytes` bytes of ggml type number `type` holds; 0 when the type is not one kept so
// (Q4_0 ... Q6_K) or the bytes are not whole blocks. Every reader of the layout checks its rows by this.
inline int64_t ggml_row_values(uint32_t type, int64_t row_bytes) {
  const auto layout = gguf::block_layout(type);
  if (!layout || layout->values == 1 || type == static_cast<uint32_t>(gguf::Type::Q8_0) || row_bytes <= 0 ||
      row_bytes % static_cast<int64_t>(layout->bytes))
    return 0;
  return row_bytes / static_cast<int64_t>(layout->bytes) * layout->values;
}

}  // namespace genplug::flux
