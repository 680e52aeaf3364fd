// See component_report.hpp.
#include "component_report.hpp"

#include <set>

#include <genplug/flux/name_text.hpp>
#include <genplug/flux/transformer_keys.hpp>

namespace genplug::flux {
namespace {

using nlohmann::json;

// How many consecutive "<block>N." indices exist.
int64_t count_indexed(const ShapeMap& shapes, const std::string& block) {
  std::set<int64_t> seen;
  for (const auto& [name, shape] : shapes) {
    if (!starts_with(name, block)) continue;
    const std::string rest = name.substr(block.size());
    const auto dot = rest.find('.');
    if (dot == 0 || dot == std::string::npos || rest.find_first_not_of("0123456789") != dot) continue;
    seen.insert(std::stoll(rest.substr(0, dot)));
  }
  int64_t n = 0;
  while (seen.count(n)) ++n;
  return n;
}

int64_t dim(const ShapeMap& shapes, const std::string& name, std::size_t i) {
  const auto it = shapes.find(name);
  return it != shapes.end() && it->second.size() > i ? it->second[i] : -1;
}

json flux_config_json(const FluxConfig& c) {
  return {{"in_channels", c.in_channels},         {"out_channels", c.out_channels},
          {"vec_in_dim", c.vec_in_dim},           {"context_in_dim", c.context_in_dim},
          {"hidden_size", c.hidden_size},         {"mlp_ratio", c.mlp_ratio},
          {"num_heads", c.num_heads},             {"head_dim", c.head_dim()},
          {"depth", c.depth},                     {"depth_single_blocks", c.depth_single_blocks},
          {"axes_dim", c.axes_dim.empty() ? json(nullptr) : json(c.axes_dim)},
          {"qkv_bias", c.qkv_bias},               {"guidance_embed", c.guidance_embed}};
}

// The transformer's config from its BFL-named shapes, and its parameter count.
void describe_transformer(const Component& c, const ShapeMap& all, json& out) {
  try {
    ShapeMap own;  // the component's names, prefix kept (bfl_transformer_shapes finds the prefix itself)
    for (const auto& [name, shape] : all)
      if (starts_with(name, c.prefix)) own.emplace(name, shape);
    const ShapeMap bfl = bfl_transformer_shapes(own, "checkpoint");
    out["config"] = flux_config_json(infer_flux_config(bfl, "checkpoint"));
    int64_t params = 0;
    for (const auto& [name, shape] : bfl) {
      int64_t k = 1;
      for (int64_t d : shape) k *= d;
      params += k;
    }
    out["parameters"] = params;
  } catch (const std::exception& e) {
    out["config_error"] = e.what();
  }
}

json autoencoder_config(const Component& c, const ShapeMap& s) {
  const bool bfl = c.layout == KeyLayout::bfl;
  const std::string down = bfl ? "encoder.down." : "encoder.down_blocks.";
  const int64_t levels = count_indexed(s, down);
  const int64_t ch = dim(s, "encoder.conv_in.weight", 0);
  json mult = json::array();
  for (int64_t i = 0; i < levels && ch > 0; ++i) {
    const std::string res = down + std::to_string(i) + (bfl ? ".block.0.conv2.weight" : ".resnets.0.conv2.weight");
    mult.push_back(dim(s, res, 0) / ch);
  }
  return {{"z_channels", dim(s, "decoder.conv_in.weight", 1)}, {"ch", ch}, {"ch_mult", mult},
          {"num_res_blocks", count_indexed(s, down + "0." + (bfl ? "block." : "resnets."))}};
}

json t5_config(const ShapeMap& s) {
  return {{"vocab_size", dim(s, "shared.weight", 0)}, {"d_model", dim(s, "shared.weight", 1)},
          {"num_layers", count_indexed(s, "encoder.block.")},
          {"d_ff", dim(s, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight", 0)}};
}

json clip_config(const ShapeMap& s) {
  return {{"vocab_size", dim(s, "text_model.embeddings.token_embedding.weight", 0)},
          {"hidden_size", dim(s, "text_model.embeddings.token_embedding.weight", 1)},
          {"num_layers", count_indexed(s, "text_model.encoder.layers.")},
          {"max_positions", dim(s, "text_model.embeddings.position_embedding.weight", 0)}};
}

}  // namespace

json component_report(const Component& c, const ShapeMap& all) {
  json out = {{"kind", kind_name(c.kind)}, {"layout", layout_name(c.layout)}, {"prefix", c.prefix},
              {"tensors", c.tensors}};
  ShapeMap s;  // the component's names, prefix stripped
  for (const auto& [name, shape] : all)
    if (starts_with(name, c.prefix)) s.emplace(name.substr(c.prefix.size()), shape);
  switch (c.kind) {
    case ModelKind::flux_transformer: describe_transformer(c, all, out); break;
    case ModelKind::autoencoder: out["config"] = autoencoder_config(c, s); break;
    case ModelKind::t5_encoder: out["config"] = t5_config(s); break;
    case ModelKind::clip_text: out["config"] = clip_config(s); break;
  }
  return out;
}

}  // namespace genplug::flux
