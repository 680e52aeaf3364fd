// GGUF blocks <-> torch tensors. The block codec itself is genplug::gguf's (no torch there).
#include <genplug/flux/ggml_block_tensors.hpp>

#include <cstring>

#include <genplug/flux/checkpoint_layout.hpp>

namespace genplug::flux {

GgmlBlockTensor ggml_blocks_from(const gguf::TensorInfo& info) {
  const int64_t rows = info.shape.at(0);
  GgmlBlockTensor b{torch::empty({rows, rows ? int64_t(info.nbytes) / rows : 0}, torch::kUInt8), info.type,
                    info.shape.at(1)};
  if (info.nbytes) std::memcpy(b.bytes.data_ptr(), info.data, info.nbytes);
  return b;
}

torch::Tensor dequantize_ggml_blocks(const GgmlBlockTensor& b) {
  const torch::Tensor bytes = b.bytes.contiguous();
  torch::Tensor out = torch::empty({bytes.size(0), b.cols}, torch::kFloat32);
  gguf::dequantize(b.type, bytes.data_ptr<uint8_t>(), out.numel(), out.data_ptr<float>());
  return out;
}

std::optional<GgmlBlockTensor> find_ggml_blocks(const TensorMap& map, const std::string& name) {
  const auto type = map.find(ggml_type_key(name));
  const auto bytes = map.find(name);
  if (type == map.end() || bytes == map.end()) return std::nullopt;
  const auto number = static_cast<uint32_t>(type->second.item<int32_t>());
  const torch::Tensor& b = bytes->second;
  const int64_t cols = b.scalar_type() == torch::kUInt8 && b.dim() == 2 ? ggml_row_values(number, b.size(1)) : 0;
  if (cols == 0)
    throw WeightError("'" + name + "': " + gguf::type_name(number) + " blocks that are not whole rows of blocks");
  return GgmlBlockTensor{b, static_cast<gguf::Type>(number), cols};
}

void put_ggml_blocks(TensorMap& map, const std::string& name, GgmlBlockTensor b) {
  map[name] = std::move(b.bytes);
  map[ggml_type_key(name)] = torch::tensor({static_cast<int32_t>(b.type)}, torch::kInt32);
}

}  // namespace genplug::flux
