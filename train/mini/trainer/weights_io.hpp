// Saving the trainer's tensors as safetensors (float32, names as given), through the plugin's own writer.
#pragma once
#include <filesystem>
#include <map>
#include <string>

#include <torch/types.h>

namespace genplug::mini {

// Writes atomically (the writer's temporary file + rename); creates the parent folder. Throws, writing nothing,
// when a tensor holds NaN or infinity.
void save_tensors(const std::filesystem::path& path, const std::map<std::string, torch::Tensor>& tensors,
                  const std::map<std::string, std::string>& metadata = {});

}  // namespace genplug::mini
