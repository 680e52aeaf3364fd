// Q8_0 weights as torch tensors (the TensorMap layout of q8_0_layout.hpp): from a GGUF file's blocks, from float
// weights by ggml's rule, and back to float.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <genplug/flux/q8_0_layout.hpp>
#include <genplug/flux/tensor_map.hpp>

namespace genplug::flux {

struct Q8Blocks {
  torch::Tensor q;  // int8 [rows, cols]
  torch::Tensor d;  // float16 [rows, cols / 32]
};

// `rows` x `cols` values stored as GGUF Q8_0 blocks (cols a multiple of 32), copied out of the file.
Q8Blocks q8_0_from_blocks(const uint8_t* blocks, int64_t rows, int64_t cols);
// The blocks' bytes again (a GGUF writer's input).
std::vector<uint8_t> q8_0_block_bytes(const Q8Blocks& b);
// A float matrix quantised by ggml's reference rule (gguf::quantize_q8_0), so the result is what ggml writes.
Q8Blocks quantize_q8_0(const torch::Tensor& w);
// q * d in float32 on q's device. Exact: every such product is a float32 value.
torch::Tensor dequantize_q8_0(const Q8Blocks& b);

// The Q8_0 pair stored under `name` in `map`; nullopt when `name` is not stored so.
std::optional<Q8Blocks> find_q8_0(const TensorMap& map, const std::string& name);
// Stores `b` under `name` (and its scale name), replacing what was there.
void put_q8_0(TensorMap& map, const std::string& name, Q8Blocks b);

}  // namespace genplug::flux
