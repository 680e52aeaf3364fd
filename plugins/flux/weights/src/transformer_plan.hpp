// What the safetensors and GGUF loaders share: from a checkpoint's names and shapes to the BFL tensors to build,
// with the layout detected and the config inferred and checked. Private to genplug_flux_weights.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <genplug/flux/weights.hpp>

namespace genplug::flux {

struct TransformerPlan {
  TransformerKeys keys;
  std::vector<KeyMerge> merges;     // only those building a tensor the config expects
  FluxConfig config;                // the explicit config when given (checked), else the inferred one
  std::vector<std::string> unused;  // checkpoint tensors (BFL names) the config does not use
};

// Throws WeightError naming `source` and the tensor or config field.
TransformerPlan plan_flux_transformer(const ShapeMap& shapes, const std::optional<FluxConfig>& explicit_config,
                                      const std::string& source);

// One BFL tensor from its checkpoint parts (copy, concatenation along dim 0, swapped halves).
torch::Tensor build_merge(const KeyMerge& m, const std::vector<torch::Tensor>& parts);

}  // namespace genplug::flux
