// GGUF blocks of Q4_0 ... Q6_K as torch tensors (the TensorMap layout of ggml_blocks_layout.hpp): from a GGUF
// file's tensor, to float, and found in or put into a TensorMap.
#pragma once
#include <optional>
#include <string>

#include <genplug/flux/ggml_blocks_layout.hpp>
#include <genplug/flux/tensor_map.hpp>
#include <genplug/gguf.hpp>

namespace genplug::flux {

struct GgmlBlockTensor {
  torch::Tensor bytes;  // uint8 [rows, bytes per row], CPU
  gguf::Type type = gguf::Type::Q4_0;
  int64_t cols = 0;     // values per row
};

// A [rows, cols] GGUF tensor's blocks, copied out of the file.
GgmlBlockTensor ggml_blocks_from(const gguf::TensorInfo& info);
// The values in float32, [rows, cols] (ggml's dequantisation).
torch::Tensor dequantize_ggml_blocks(const GgmlBlockTensor& b);

// The blocks stored under `name` in `map`, their row length told by their type (ggml_row_values); nullopt when
// `name` is not stored so. Throws WeightError when the entries do not agree (a type not kept so, rows that are
// not whole blocks).
std::optional<GgmlBlockTensor> find_ggml_blocks(const TensorMap& map, const std::string& name);
// Stores `b` under `name` (and its type key), replacing what was there.
void put_ggml_blocks(TensorMap& map, const std::string& name, GgmlBlockTensor b);

}  // namespace genplug::flux
