// What each recognised component of a checkpoint says about its size (for org.genplug.flux.inspect): the FLUX
// transformer's inferred config and parameter count, the autoencoder's, T5's and CLIP's dimensions. Shapes
// only: no torch, no tensor data.
#pragma once
#include <nlohmann/json.hpp>

#include <genplug/flux/checkpoint_layout.hpp>

namespace genplug::flux {

// {"kind", "layout", "prefix", "tensors", "config", and "parameters" or "config_error" for a transformer}.
// Best effort: config fields whose tensors are absent are -1 (or left out).
nlohmann::json component_report(const Component& component, const ShapeMap& all_shapes);

}  // namespace genplug::flux
