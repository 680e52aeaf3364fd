// Where the plugin's transformer comes from: random weights of a preset, or a checkpoint on disk (safetensors
// with BFL or diffusers key names, converted to BFL names, or GGUF), with the config inferred and checked.
#pragma once
#include <string>

#include <torch/types.h>

#include <genplug/flux/transformer.hpp>

#include "model_settings.hpp"

namespace genplug::flux {

struct TransformerSource {
  TensorMap weights;   // BFL names, already in the model dtype / on the device
  FluxConfig config;
  std::string preset;  // "tiny", "flux-dev", "flux-schnell" (for files: the closest, by guidance_embed)
};

// Throws genplug::Error naming the file and tensor (GENPLUG_E_IO), the config field (GENPLUG_E_CONFIG), or the file
// that could not be mapped for want of address space (GENPLUG_E_OUT_OF_MEMORY).
TransformerSource load_transformer_source(const ModelSettings& settings, torch::Dtype dtype, torch::Device device);

// What identifies the files behind `path` as they are now (a file, or the regular files in a folder or beside an
// index: device, inode, size, modification and change time each); equal stamps, the same files. 8-bit weights are
// loaded again from the path for every LoRA merge, which must not take a checkpoint replaced since (a rename keeps
// the path).
std::string source_stamp(const std::string& path);

}  // namespace genplug::flux
