// Encoder weights from a safetensors checkpoint (file, diffusers folder, sharded index) as torch tensors,
// with the checkpoint's key prefix (ComfyUI "text_encoders.t5xxl.transformer.", ...) removed.
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include <torch/types.h>

namespace genplug::flux::text {

struct TextWeights {
  std::filesystem::path source;
  std::map<std::string, torch::Tensor> tensors;  // HF names
  // Tensors of the file that are no floating point (CLIP's int64 position_ids buffer), by HF name: their dtype,
  // for the error when one of them is a weight the encoder needs.
  std::map<std::string, std::string> not_floating;

  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  // In the file, whatever its dtype: what counts layers, so that an integer one is named by at(), not left out.
  bool listed(const std::string& name) const { return has(name) || not_floating.count(name) != 0; }
  // Throws std::runtime_error naming the checkpoint and the tensor: missing, or of an integer dtype.
  const torch::Tensor& at(const std::string& name) const;
  // at(name) after checking its shape; the error names the tensor, expected and found shapes.
  const torch::Tensor& at(const std::string& name, const std::vector<int64_t>& shape) const;
};

// What loading an encoder's weights takes, told before any tensor is copied: the tensors in the dtypes they are
// loaded as (held), and besides, while one is converted, at most its stored bytes (and its float32 values, for
// float8 files).
struct TextLoadBytes {
  double held = 0, temporary = 0;
};
using BeforeTextLoad = std::function<void(const TextLoadBytes&)>;

// Loads the floating tensors whose names start with the prefix found in front of `anchor` (the first tensor
// name ending in `anchor`; e.g. "encoder.final_layer_norm.weight"). `what` names the encoder in errors.
// Tensors are copied out of the mapping and converted to `dtype` on `device`; names ending in one of
// `keep_float32` stay float32 (T5's wo for float16). `before_load`, when set, is called once before the first
// copy (it may throw to refuse the load).
TextWeights load_text_weights(const std::filesystem::path& path, const std::string& anchor, const std::string& what,
                              torch::Device device, torch::ScalarType dtype,
                              const std::vector<std::string>& keep_float32 = {},
                              const BeforeTextLoad& before_load = {});

}  // namespace genplug::flux::text
