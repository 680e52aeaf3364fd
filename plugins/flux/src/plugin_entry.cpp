// The model plugin library's entry: registers org.genplug.flux. Its checkpoint inspector is a library of its own
// (inspector_entry.cpp), so `genplug inspect` never loads libtorch.
#include <genplug/plugin.hpp>

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
}

}  // namespace

GENPLUG_EXPORT_ENTRY(register_plugins)
