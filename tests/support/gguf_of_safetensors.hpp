// Test support: a safetensors file's tensors as a GGUF file of the kind FLUX users download (ComfyUI-GGUF,
// stable-diffusion.cpp): matrices whose rows are whole blocks of 32 as Q8_0 (ggml's rounding), other matrices F32,
// vectors F16 and BF16 in turn when `narrow_vectors`, else F32. Tests that include it link genplug_gguf and
// genplug_safetensors.
#pragma once
#include <cstring>
#include <filesystem>
#include <vector>

#include <genplug/gguf.hpp>
#include <genplug/safetensors.hpp>

namespace genplug::test {

inline void write_gguf_of(const safetensors::File& source, const std::filesystem::path& path,
                          bool narrow_vectors = false) {
  std::vector<gguf::TensorData> out;
  for (const safetensors::TensorInfo& t : source.tensors()) {
    const std::vector<float> v = safetensors::to_float32(t);
    gguf::TensorData d{t.name, gguf::Type::F32, t.shape, {}};
    if (t.shape.size() == 2 && t.shape[1] % gguf::kQ8Block == 0) {
      d.type = gguf::Type::Q8_0;
      d.bytes.resize(gguf::byte_size(d.type, t.shape));
      gguf::quantize_q8_0(v.data(), int64_t(v.size()), d.bytes.data());
    } else if (t.shape.size() == 1 && narrow_vectors) {
      const bool f16 = out.size() % 2 == 0;
      d.type = f16 ? gguf::Type::F16 : gguf::Type::BF16;
      for (float x : v) {
        const uint16_t h = f16 ? safetensors::float_to_f16(x) : safetensors::float_to_bf16(x);
        d.bytes.push_back(uint8_t(h & 0xff)), d.bytes.push_back(uint8_t(h >> 8));
      }
    } else {
      d.bytes.resize(v.size() * 4);
      std::memcpy(d.bytes.data(), v.data(), d.bytes.size());
    }
    out.push_back(std::move(d));
  }
  gguf::write_file(path, out, {{"general.architecture", "flux"}});
}

}  // namespace genplug::test
