// org.genplug.flux.inspect: the genplug.inspector/1 plugin that describes safetensors checkpoints (a file, a
// *.safetensors.index.json, or a folder of shards) for hosts that know no model format. Header only,
// memory-mapped: no torch, no weights loaded.
#pragma once
#include <memory>
#include <string>

#include <genplug/plugin.hpp>

namespace genplug::flux {

// Its config takes no field: {"type":"object","additionalProperties":false}.
const std::string& inspector_config_schema();

// Throws ConfigError for config text that is not "{}" (an empty JSON object).
std::unique_ptr<Inspector> make_checkpoint_inspector(const std::string& config_json, Context& ctx);

}  // namespace genplug::flux
