// Test support: GGUF files of a safetensors file's names and shapes whose matrices are random blocks of ggml's
// quantised types (ggml_block_packer.hpp), each type in turn: the 32-value types where rows are whole blocks of
// 32, the K types where they are whole blocks of 256; each matrix's values within its source's largest |value|.
// Written three ways: `quantised` (the blocks), `reblocked` (each such matrix as Q8_0, gguf::q8_0_blocks_of) and
// `decoded` (each as F32 of its values, gguf::dequantize's). Other tensors are F32 as stored in all three. Tests that include
// it link genplug_gguf and genplug_safetensors.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <genplug/gguf.hpp>
#include <genplug/safetensors.hpp>

#include "ggml_block_packer.hpp"

namespace genplug::test {

struct BlockTypeFiles {
  std::filesystem::path quantised, reblocked, decoded;
};

// Returns the types used, by ggml's names.
inline std::set<std::string> write_block_type_files(const safetensors::File& source, const BlockTypeFiles& to) {
  std::mt19937 rng(5);
  std::vector<gguf::TensorData> quantised, reblocked, decoded;
  std::set<std::string> used;
  std::size_t turns[2] = {0, 0};
  auto f32 = [](const std::string& name, const std::vector<int64_t>& shape, const std::vector<float>& v) {
    gguf::TensorData d{name, gguf::Type::F32, shape, std::vector<uint8_t>(v.size() * 4)};
    if (!v.empty()) std::memcpy(d.bytes.data(), v.data(), d.bytes.size());
    return d;
  };
  for (const safetensors::TensorInfo& t : source.tensors()) {
    const std::vector<float> v = safetensors::to_float32(t);
    if (t.shape.size() != 2 || t.shape[1] % 32) {
      for (auto* out : {&quantised, &reblocked, &decoded}) out->push_back(f32(t.name, t.shape, v));
      continue;
    }
    // quantised_types(): the first four hold 32 values a block, the others (the K types) 256.
    const auto& types = quantised_types();
    const bool k_types = t.shape[1] % 256 == 0;
    std::size_t& turn = turns[k_types];
    const gguf::Type type = k_types ? types[4 + turn++ % (types.size() - 4)] : types[turn++ % 4];
    float max_abs = 0.0f;
    for (float x : v) max_abs = std::max(max_abs, std::fabs(x));
    const int blocks = int(t.shape[0] * t.shape[1] / gguf::block_layout(uint32_t(type))->values);
    PackedBlocks p = random_blocks(type, blocks, rng, max_abs > 0.0f ? max_abs : 1.0f);
    // The library's decode, not block_value: the tests that read these files compare the model with the file's
    // values exactly, and this header is built without -ffp-contract=off (test_gguf_dequantize checks the decode).
    gguf::dequantize(type, p.bytes.data(), int64_t(p.values.size()), p.values.data());
    used.insert(gguf::type_name(uint32_t(type)));
    gguf::TensorInfo info;
    info.name = t.name, info.type = type, info.shape = t.shape, info.data = p.bytes.data();
    info.nbytes = p.bytes.size();
    reblocked.push_back({t.name, gguf::Type::Q8_0, t.shape, gguf::q8_0_blocks_of(info)});
    decoded.push_back(f32(t.name, t.shape, p.values));
    quantised.push_back({t.name, type, t.shape, std::move(p.bytes)});
  }
  const std::map<std::string, std::string> meta = {{"general.architecture", "flux"}};
  gguf::write_file(to.quantised, quantised, meta);
  gguf::write_file(to.reblocked, reblocked, meta);
  gguf::write_file(to.decoded, decoded, meta);
  return used;
}

}  // namespace genplug::test
