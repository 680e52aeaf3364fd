// The FLUX transformer from a GGUF file (stable-diffusion.cpp and ComfyUI-GGUF checkpoints): the safetensors
// loader's layouts, checks and config inference; block-quantised matrices kept in their blocks (Q8_0:
// q8_0_layout.hpp; Q4_0 ... Q6_K on the CPU: ggml_blocks_layout.hpp), re-blocked as Q8_0 where a merge mixes
// types or the model is on another device. And a path of either format, told by the GGUF magic.
#include <genplug/flux/ggml_block_tensors.hpp>
#include <genplug/flux/q8_0_tensors.hpp>
#include <genplug/flux/weights.hpp>
#include <genplug/gguf.hpp>

#include <algorithm>
#include <cstring>

#include "transformer_plan.hpp"

namespace genplug::flux {
namespace {

torch::ScalarType stored_type(gguf::Type type) {
  switch (type) {
    case gguf::Type::F16: return torch::kFloat16;
    case gguf::Type::BF16: return torch::kBFloat16;
    default: return torch::kFloat32;  // F32, and the block types decoded by load_float
  }
}

// A tensor that is not kept in blocks, as `dtype` on `device` (a copy: the file may be closed afterwards). Block
// types are decoded to float32 first (ggml's dequantisation).
torch::Tensor load_float(const gguf::TensorInfo& info, torch::ScalarType dtype, torch::Device device) {
  torch::Tensor t = torch::empty(info.shape, stored_type(info.type));
  if (gguf::is_block_quantised(info.type))
    gguf::dequantize(info.type, info.data, info.numel(), t.data_ptr<float>());
  else if (info.nbytes)
    std::memcpy(t.data_ptr(), info.data, info.nbytes);
  return t.to(device, dtype);
}

// A matrix of any block type as Q8_0 blocks: Q8_0 as it is, the others (Q4_K, Q5_0, ...) re-blocked by
// gguf::q8_0_blocks_of (docs/flux.md: what that costs).
Q8Blocks load_blocks(const gguf::TensorInfo& info, torch::Device device) {
  Q8Blocks b;
  if (info.type == gguf::Type::Q8_0) {
    b = q8_0_from_blocks(info.data, info.shape[0], info.shape[1]);
  } else {
    const std::vector<uint8_t> blocks = gguf::q8_0_blocks_of(info);
    b = q8_0_from_blocks(blocks.data(), info.shape[0], info.shape[1]);
  }
  return {b.q.to(device), b.d.to(device)};
}

// A merge is kept in blocks when all its parts are block-quantised matrices (concatenating or swapping whole rows
// keeps the blocks intact): as they are when they share one type, else re-blocked as Q8_0. Otherwise its parts
// are widened to the model dtype.
bool all_block_matrices(const gguf::File& file, const KeyMerge& m) {
  for (const auto& name : m.sources) {
    const gguf::TensorInfo* t = file.find(name);
    if (!t || !gguf::is_block_quantised(t->type) || t->shape.size() != 2) return false;
  }
  return !m.sources.empty();
}

bool one_type(const gguf::File& file, const KeyMerge& m) {
  for (const auto& name : m.sources)
    if (file.find(name)->type != file.find(m.sources.front())->type) return false;
  return true;
}

bool kept_as_ggml_blocks(const gguf::File& file, const KeyMerge& m, torch::Device device) {
  return all_block_matrices(file, m) && file.find(m.sources.front())->type != gguf::Type::Q8_0 && one_type(file, m) &&
         device.is_cpu();
}

// What loading `plan` allocates on the CPU (everything is copied out of the file): blocks kept as they are, their
// bytes and their type; Q8_0 blocks, an int8 per value and a float16 scale per 32; anything else, `dtype`.
// Meanwhile, per merge, at most its parts decoded to float32 (or re-blocked, or in their stored type): 4 bytes a
// value, over-counted where they are narrower.
LoadBytes load_bytes(const gguf::File& file, const TransformerPlan& plan, torch::ScalarType dtype, torch::Device device) {
  LoadBytes bytes;
  bytes.config = plan.config;
  if (!device.is_cpu()) return bytes;
  for (const KeyMerge& m : plan.merges) {
    const bool ggml = kept_as_ggml_blocks(file, m, device), q8_0 = !ggml && all_block_matrices(file, m);
    if (ggml) bytes.copied += sizeof(int32_t);  // the type beside the blocks (put_ggml_blocks)
    double temporary = 0, values = 0;
    for (const auto& name : m.sources) {
      const gguf::TensorInfo& t = *file.find(name);
      const double n = double(t.numel());
      bytes.copied += ggml ? double(t.nbytes) : q8_0 ? n + n / 32 * 2 : n * double(c10::elementSize(dtype));
      temporary += n * 4;
      if (!ggml && !q8_0 && t.shape.size() == 2) values += n;  // block matrices stay in their blocks
    }
    bytes.temporary = std::max(bytes.temporary, temporary);
    bytes.matrix_values += values;
    bytes.largest_matrix = std::max(bytes.largest_matrix, values);
  }
  return bytes;
}

}  // namespace

FluxTransformerWeights load_flux_transformer(const gguf::File& file, const std::optional<FluxConfig>& explicit_config,
                                             torch::ScalarType dtype, torch::Device device,
                                             const BeforeLoad& before_load) {
  const TransformerPlan plan = plan_flux_transformer(file.shapes(), explicit_config, file.name());
  if (before_load) before_load(load_bytes(file, plan, dtype, device));
  FluxTransformerWeights out;
  out.keys = plan.keys;
  out.config = plan.config;
  out.ignored = plan.unused;
  for (const KeyMerge& m : plan.merges) {
    const bool blocks = all_block_matrices(file, m);
    if (kept_as_ggml_blocks(file, m, device)) {
      std::vector<torch::Tensor> bytes;
      for (const auto& name : m.sources) bytes.push_back(ggml_blocks_from(*file.find(name)).bytes);
      const gguf::TensorInfo& first = *file.find(m.sources.front());
      put_ggml_blocks(out.tensors, m.target, {build_merge(m, bytes), first.type, first.shape[1]});
      continue;
    }
    if (blocks) {
      std::vector<torch::Tensor> q, d;
      for (const auto& name : m.sources) {
        Q8Blocks b = load_blocks(*file.find(name), device);
        q.push_back(b.q);
        d.push_back(b.d);
      }
      put_q8_0(out.tensors, m.target, {build_merge(m, q), build_merge(m, d)});
      continue;
    }
    std::vector<torch::Tensor> parts;
    for (const auto& name : m.sources) parts.push_back(load_float(*file.find(name), dtype, device));
    out.tensors.emplace(m.target, build_merge(m, parts));
  }
  return out;
}

ShapeMap checkpoint_shapes(const std::filesystem::path& path) {
  return gguf::is_gguf_file(path) ? gguf::File::open(path)->shapes() : shapes_of(safetensors::Checkpoint(path));
}

FluxTransformerWeights load_flux_transformer(const std::filesystem::path& path,
                                             const std::optional<FluxConfig>& explicit_config,
                                             torch::ScalarType dtype, torch::Device device,
                                             const BeforeLoad& before_load) {
  if (gguf::is_gguf_file(path))
    return load_flux_transformer(*gguf::File::open(path), explicit_config, dtype, device, before_load);
  return load_flux_transformer(safetensors::Checkpoint(path), explicit_config, dtype, device, before_load);
}

}  // namespace genplug::flux
