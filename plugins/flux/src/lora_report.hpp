// A LoRA file as org.genplug.flux.inspect describes it: its key formats, ranks and alphas, the transformer
// modules it changes, and the model it fits (the hidden size its factors imply, the deepest blocks it touches).
// Names, shapes and the scalar alphas only: no torch.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <genplug/flux/checkpoint_layout.hpp>
#include <genplug/safetensors.hpp>

namespace genplug::flux {

// null when the file holds no LoRA module; {"error": why} for a LoRA genplug cannot apply (DoRA, LoHa, a half
// module); else {"formats", "modules", "ranks", "alphas", "double_block_modules", "single_block_modules",
// "other_modules", "hidden_size", "min_depth", "min_depth_single_blocks", "text_encoder_tensors",
// "unknown_tensors", "fits"}.
nlohmann::json lora_report(const safetensors::Checkpoint& checkpoint, const ShapeMap& shapes);

// The report as lines for people ("lora: kohya keys, 2 modules (...)", "  rank: 16; alpha: 16", ...).
std::vector<std::string> lora_notes(const nlohmann::json& report);

}  // namespace genplug::flux
