// LoRAs merged into the FLUX transformer's weights (docs/lora.md):
//   W' = W + sum_i scale_i * (alpha_i / rank_i) * B_i A_i
// each delta computed in float32 from the file's factors, added to W in float32 and rounded once to W's dtype.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <genplug/flux/lora_keys.hpp>
#include <genplug/flux/tensor_map.hpp>

namespace genplug::flux {

struct LoraMerge {
  TensorMap weights;                  // the base map, with new tensors for the weights a LoRA changes
  std::vector<std::string> changed;   // BFL names of those weights
  std::vector<std::string> notes;     // ignored text-encoder tensors and unknown keys, one line per file
};

// Merges `loras` into a copy of `base` (BFL names). Weights no LoRA touches are the base's own tensors
// (a zero-copy mapping stays one); the base is never modified, so dropping the result restores it exactly.
// A Q8_0 weight (q8_0_layout.hpp) is merged in float32 and quantised again to Q8_0 by ggml's rule.
// Throws WeightError / safetensors::Error naming the file and module: a target the model lacks, shapes that
// do not fit (both shapes named), a module without its down or up matrix.
LoraMerge merge_loras(const TensorMap& base, const std::vector<LoraFile>& loras);

}  // namespace genplug::flux
