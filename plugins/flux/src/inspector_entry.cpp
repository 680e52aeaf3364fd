// The inspector library's entry: registers org.genplug.flux.inspect. Linked with the safetensors reader only
// (no libtorch), so describing a checkpoint costs milliseconds, and works in builds without libtorch.
#include <genplug/plugin.hpp>

#include "checkpoint_inspector.hpp"

namespace {

void register_plugins(genplug::Registry& registry) {
  genplug::PluginInfo inspect;
  inspect.id = "org.genplug.flux.inspect";
  inspect.name = "FLUX.1 checkpoint inspector";
  inspect.vendor = "genplug";
  inspect.version = "0.1.0";
  inspect.description = "Describes safetensors checkpoints from their header (memory-mapped, no torch): tensors, "
                        "dtypes, FLUX transformer / autoencoder / T5 / CLIP components with inferred configs, LoRAs";
  inspect.features = {"format:safetensors"};
  inspect.config_schema = genplug::flux::inspector_config_schema();
  registry.add_inspector(inspect, [](const std::string& config, genplug::Context& ctx) {
    return genplug::flux::make_checkpoint_inspector(config, ctx);
  });
}

}  // namespace

GENPLUG_EXPORT_ENTRY(register_plugins)
