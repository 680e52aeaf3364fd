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

// The shape of every weight of `base` (BFL names) that a LoRA could change, as check_loras takes them: GGUF
// blocks stand for [rows, values a row]. Small: kept by a model that drops its base weights (int8).
ShapeMap lora_target_shapes(const TensorMap& base);

struct LoraCheck {
  std::vector<std::string> targets;  // BFL names of the weights the merge copies (each once)
  std::vector<std::string> notes;    // as LoraMerge's, and modules of one file that change the same rows
  double target_values = 0;          // their values, summed: what a merge copies
  double largest_target = 0;         // the largest's values: merged in float32 beside its copy
  double largest_factors = 0;        // one module's down and up values at most: read in float32 for its product
};

// Checks `loras` against a model's weights as merge_loras does before it copies anything: every file opened and
// its names, shapes and alphas read; every module matched to its target and its shapes checked. The factors'
// values are not read (merge_loras checks that they are finite). Throws as merge_loras.
LoraCheck check_loras(const ShapeMap& target_shapes, const std::vector<LoraFile>& loras);

// Merges `loras` into a copy of `base` (BFL names). Weights no LoRA touches are the base's own tensors
// (a zero-copy mapping stays one); the base is never modified, so dropping the result restores it exactly.
// A Q8_0 weight (q8_0_layout.hpp) is merged in float32 and quantised again to Q8_0 by ggml's rule.
// Throws WeightError / safetensors::Error naming the file and module: a target the model lacks, shapes that
// do not fit (both shapes named), a module without its down or up matrix.
LoraMerge merge_loras(const TensorMap& base, const std::vector<LoraFile>& loras);

}  // namespace genplug::flux
