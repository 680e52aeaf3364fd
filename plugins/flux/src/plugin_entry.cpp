// The plugin library's entry: registers org.genplug.flux (the model) and org.genplug.flux.inspect (the
// checkpoint inspector).
#include <genplug/plugin.hpp>

#include "checkpoint_inspector.hpp"
#include "flux_model.hpp"
#include "model_settings.hpp"

namespace {

void register_plugins(genplug::Registry& registry) {
  genplug::PluginInfo info;
  info.id = "org.genplug.flux";
  info.name = "FLUX.1";
  info.vendor = "genplug";
  info.version = "0.1.0";
  info.description = "FLUX.1 (dev, schnell, Krea-dev) on libtorch: BFL-exact transformer with a pluggable rotary "
                     "spectrum, autoencoder, T5/CLIP conditioning; safetensors weights or random";
  info.features = {"rotary:spectrum", "dtype:f32", "dtype:bf16", "dtype:f16", "device:cpu", "device:cuda",
                   "weights:random"};
  info.config_schema = genplug::flux::model_config_schema();
  registry.add_model(info, [](const std::string& config, genplug::Context& ctx) {
    return genplug::flux::make_flux_model(config, ctx);
  });

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
