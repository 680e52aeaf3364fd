// LoRAs merged into the FLUX transformer's weights (docs/lora.md):
//   W' = W + sum_i scale_i * (alpha_i / rank_i) * B_i A_i
// each delta computed in float32 from the file's factors, added to W in float32 and rounded once to W's dtype.
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <genplug/flux/lora_keys.hpp>
#include <genplug/flux/tensor_map.hpp>

namespace genplug::flux {

struct LoraMerge {
  TensorMap weights;                  // the base map, with new tensors for the weights a LoRA changes
  std::vector<std::string> changed;   // BFL names of those weights
  std::vector<std::string> notes;     // ignored text-encoder tensors and unknown keys, one line per file
  size_t files = 0;                   // the files merged: each once, however often the list names it
};

// What a LoRA could change in `base` (BFL names), as check_loras takes it: each weight's shape (GGUF blocks stand for
// [rows, values a row]) and the bytes a value of it takes as a merge stores it (its dtype's; Q8_0's 34/32 for GGUF
// blocks, which a merge stores as Q8_0). Small: kept by a model that drops its base weights (int8).
struct LoraTargets {
  ShapeMap shapes;
  std::map<std::string, double> stored_bytes;  // per value
};
LoraTargets lora_targets(const TensorMap& base);

struct LoraCheck {
  std::vector<std::string> targets;  // BFL names of the weights the merge copies (each once)
  std::vector<std::string> notes;    // as LoraMerge's, and modules of one file that change the same rows
  double target_bytes = 0;           // what the merge copies: those weights as it stores them
  double largest_target = 0;         // the largest's values: merged in float32 beside its copy
  double largest_factors = 0;        // one module's down and up values at most: read in float32 for its product
};

// Checks `loras` against a model's weights as merge_loras does before it copies anything: every file opened and
// its names, shapes and alphas read; every module matched to its target and its shapes checked. The factors'
// values are not read (merge_loras checks that they are finite). Throws as merge_loras.
LoraCheck check_loras(const LoraTargets& targets, const std::vector<LoraFile>& loras);

// Merges `loras` into a copy of `base` (BFL names). Weights no LoRA touches are the base's own tensors
// (a zero-copy mapping stays one); the base is never modified, so dropping the result restores it exactly.
// A Q8_0 weight (q8_0_layout.hpp) is merged in float32 and quantised again to Q8_0 by ggml's rule. A file listed
// more than once is read and merged once, at the sum of its scales (a note says so). A module whose factor is 0
// (scale 0, scales that cancel) is checked but not applied: its target stays the base's own tensor.
// Throws WeightError / safetensors::Error naming the file and module: a target the model lacks, shapes that
// do not fit (both shapes named), a module without its down or up matrix. `between_deltas`, when given, runs
// before each LoRA module's product is added, and may throw to stop the merge (a host's cancel: a long list
// takes minutes).
LoraMerge merge_loras(const TensorMap& base, const std::vector<LoraFile>& loras,
                      const std::function<void()>& between_deltas = nullptr);

}  // namespace genplug::flux
