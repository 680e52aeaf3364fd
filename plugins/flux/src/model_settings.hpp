// The org.genplug.flux configuration: its JSON Schema and its parsed form. No torch here.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <genplug/flux/flux_config.hpp>
#include <genplug/flux/lora_keys.hpp>

namespace genplug::flux {

// "preset": "mini" without "transformer" / "vae": the shipped files (mini_model.hpp resolves them).
inline constexpr const char* kMiniShipped = "<mini>";

struct ModelSettings {
  std::string transformer = "random";  // "random", or a .safetensors file / *.safetensors.index.json / folder
  std::optional<std::string> preset;   // for "random": tiny (default), mini, flux-dev, flux-schnell
  uint64_t seed = 0;                   // random weights (transformer, VAE, random text encoders)
  nlohmann::json overrides = nlohmann::json::object();  // "config": FluxConfig fields
  std::string vae = "random";          // "random", "none", or a checkpoint path
  nlohmann::json text;                 // null when absent; else passed to TextConditioner
  std::string conditioning;            // precomputed txt/vec safetensors file (replaces the text encoders)
  std::string device = "cpu";
  std::string dtype = "f32";          // the transformer's weights (and the VAE's, the text encoders' by default)
  std::string compute_dtype = "auto";  // what the transformer and VAE compute in (compute_dtype.hpp)
  std::string quantize = "none";       // "int8": the transformer's linear weights kept in 8 bits (flux_model.cpp)
  double guidance = 3.5;
  // Classifier-free guidance, as diffusers' FluxPipeline true_cfg_scale: v = v(negative) + scale * (v(prompt) -
  // v(negative)), two transformer evaluations per step. Unset: the preset's default (1 = off; mini: see flux_model).
  std::optional<double> true_cfg_scale;
  std::string negative_prompt;  // the prompt guided away from ("" = unconditional, as the mini model was trained)
  std::optional<uint32_t> steps, width, height;
  std::vector<uint32_t> base_extent;   // empty: the preset's
  int64_t attention_memory_mb = 16;
  // Tiled VAE decode: fields given in config.vae_tiling, applied over the autoencoder's defaults.
  struct VaeTiling {
    std::optional<bool> enabled;
    std::optional<int64_t> auto_above, tile, overlap;
  } vae_tiling;
  std::vector<LoraFile> loras;  // merged into the transformer's weights (docs/lora.md)
};

// A list of LoRAs, [{"path": file, "scale": number}], as config.loras or a job's "loras". Throws ConfigError
// naming `where` and the field.
std::vector<LoraFile> parse_lora_list(const nlohmann::json& list, const std::string& where);

// The JSON Schema of the configuration (the subset listed in docs/manifest.md).
const std::string& model_config_schema();

// Parses and checks a configuration; throws genplug::ConfigError naming the field.
ModelSettings parse_model_settings(const std::string& config_json);

// `base` with the fields of `overrides` ("config" object) applied; throws ConfigError naming the field.
FluxConfig apply_config_overrides(FluxConfig base, const nlohmann::json& overrides);

}  // namespace genplug::flux
