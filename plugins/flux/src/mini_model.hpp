// "preset": "mini": the project's trained model (docs/mini-model.md), shipped as files in models/mini.
#pragma once
#include <filesystem>

#include "model_settings.hpp"

namespace genplug::flux {

// The folder of the shipped mini model: $GENPLUG_MINI_MODEL if set (only there), else share/genplug/models/mini
// beside the plugin library (installs; in a build tree a link to the source's models/mini). Throws ConfigError
// naming the places looked at when none holds transformer.safetensors.
std::filesystem::path find_mini_model();

// For preset "mini": the shipped files where the config left them to the preset — transformer and vae given
// as kMiniShipped by the parser, and text when neither text nor conditioning is given. Other presets pass
// through unchanged.
ModelSettings with_mini_files(ModelSettings settings);

}  // namespace genplug::flux
