// libFuzzer target: org.genplug.flux's config parser (plugins/flux/src/model_settings.cpp: no torch, compiled in)
// on arbitrary text, directly and through the host's schema validation (config_fuzz.hpp). An accepted config then
// goes where the plugin takes it before building the model: preset + "config" overrides, validate_flux_config
// (plugins/flux/transformer/src/presets.cpp, no torch, compiled in) and check_flux_config (genplug_safetensors).
#include <cstdint>

#include <genplug/flux/presets.hpp>
#include <genplug/flux/transformer_keys.hpp>

#include "config_fuzz.hpp"
#include "model_settings.hpp"

namespace gx = genplug::flux;
namespace gf = genplug::fuzz;

namespace {

const genplug::host::JsonSchema* schema = nullptr;

// What load_transformer_source() does with the settings before any tensor exists (the torch-free part):
// random weights: preset + overrides, validated; a checkpoint: overrides over the inferred config, checked
// against it (here the tiny preset stands for what a checkpoint's shapes imply).
void use(const gx::ModelSettings& s) {
  const gx::FluxConfig preset = gx::flux_preset(s.preset.value_or("tiny"));
  const gx::FluxConfig random = gx::apply_config_overrides(preset, s.overrides);
  gx::validate_flux_config(random);
  try {
    gx::check_flux_config(gx::apply_config_overrides(gx::flux_preset("tiny"), s.overrides), gx::flux_preset("tiny"),
                          "fuzz.safetensors");
  } catch (const gx::WeightError&) {
  }
  for (const gx::LoraFile& f : s.loras)
    if (f.path.empty()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  schema = new genplug::host::JsonSchema(nlohmann::json::parse(gx::model_config_schema()));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gf::fuzz_config("flux_config", *schema, data, size, gx::parse_model_settings, use);
  return 0;
}
