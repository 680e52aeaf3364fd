// Test support: the golden FLUX sets' FluxParams (flux_tiny_info.json meta.params) as our FluxConfig.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include <genplug/flux/flux_config.hpp>

#include "golden.hpp"

namespace genplug::test {

inline flux::FluxConfig flux_config_from_params(const nlohmann::json& p) {
  flux::FluxConfig c;
  c.in_channels = p.at("in_channels");
  c.out_channels = p.at("out_channels");
  c.vec_in_dim = p.at("vec_in_dim");
  c.context_in_dim = p.at("context_in_dim");
  c.hidden_size = p.at("hidden_size");
  c.mlp_ratio = p.at("mlp_ratio");
  c.num_heads = p.at("num_heads");
  c.depth = p.at("depth");
  c.depth_single_blocks = p.at("depth_single_blocks");
  c.axes_dim = p.at("axes_dim").get<std::vector<int64_t>>();
  c.theta = p.at("theta");
  c.qkv_bias = p.at("qkv_bias");
  c.guidance_embed = p.at("guidance_embed");
  return c;
}

// golden.hpp's flux_first_attention_module in the block one past its stack's last, which the model lacks.
inline std::string attention_module_past_the_end(const flux::FluxConfig& c) {
  return c.depth > 0 ? "double_blocks." + std::to_string(c.depth) + ".img_attn.qkv"
                     : "single_blocks." + std::to_string(c.depth_single_blocks) + ".linear1";
}

// The golden tiny transformer's config, read from the golden folder.
inline flux::FluxConfig golden_flux_config() {
  return flux_config_from_params(read_json(golden("flux/flux_tiny_info.json")).at("meta").at("params"));
}

}  // namespace genplug::test
