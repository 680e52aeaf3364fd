// Named FLUX transformer configurations and the parameter shapes a configuration implies. No torch here.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <genplug/flux/flux_config.hpp>

namespace genplug::flux {

// "flux-dev" (also Krea-dev), "flux-schnell", or "tiny": hidden 64, 4 heads, 2 + 2 blocks, axes 4,6,6,
// context 48, vec 32 (the golden test dims) with in/out channels 64 = 16 VAE channels x 2 x 2, so that
// it pairs with a real-layout VAE; or "mini": the project's trained model (docs/mini-model.md), hidden 128,
// 2 heads, 2 + 4 blocks, axes 8,28,28, context 128, vec 64, no guidance embedding. Throws genplug::ConfigError
// for other names.
FluxConfig flux_preset(const std::string& name);
std::vector<std::string> flux_preset_names();

// Throws genplug::ConfigError naming the field when the config cannot describe a FLUX transformer.
void validate_flux_config(const FluxConfig& config);

// Every BFL parameter name with its shape, in a stable order.
using WeightShapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;
WeightShapes flux_weight_shapes(const FluxConfig& config);

// Number of parameters the config implies.
int64_t flux_parameter_count(const FluxConfig& config);

}  // namespace genplug::flux
