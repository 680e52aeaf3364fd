// Recognising model components from tensor names.
#include <genplug/flux/checkpoint_layout.hpp>

#include <genplug/safetensors.hpp>

#include <algorithm>
#include <optional>

#include <genplug/flux/name_text.hpp>

namespace genplug::flux {
namespace {

// One way to recognise a component: a tensor that marks it, and the name roots that belong to it.
struct Signature {
  ModelKind kind;
  KeyLayout layout;
  std::string marker;  // the name (after the prefix) that identifies the component
  std::vector<std::string> roots;
};

const std::vector<Signature>& signatures() {
  static const std::vector<std::string> kVaeRoots = {
      "encoder.conv_in.", "encoder.conv_out.", "encoder.down", "encoder.mid", "encoder.norm_out.",
      "encoder.conv_norm_out.", "decoder.", "quant_conv.", "post_quant_conv."};
  static const std::vector<Signature> all = {
      {ModelKind::flux_transformer, KeyLayout::bfl, "img_in.weight",
       {"img_in.", "txt_in.", "time_in.", "vector_in.", "guidance_in.", "double_blocks.", "single_blocks.",
        "final_layer."}},
      {ModelKind::flux_transformer, KeyLayout::diffusers, "x_embedder.weight",
       {"x_embedder.", "context_embedder.", "time_text_embed.", "transformer_blocks.", "single_transformer_blocks.",
        "norm_out.", "proj_out."}},
      {ModelKind::autoencoder, KeyLayout::bfl, "decoder.mid.block_1.conv1.weight", kVaeRoots},
      {ModelKind::autoencoder, KeyLayout::diffusers, "decoder.mid_block.resnets.0.conv1.weight", kVaeRoots},
      {ModelKind::t5_encoder, KeyLayout::huggingface, "encoder.block.0.layer.0.SelfAttention.q.weight",
       {"shared.", "encoder.block.", "encoder.final_layer_norm.", "encoder.embed_tokens."}},
      {ModelKind::clip_text, KeyLayout::huggingface, "text_model.encoder.layers.0.self_attn.q_proj.weight",
       {"text_model.", "text_projection."}},
  };
  return all;
}

// The prefix under which `marker` appears (a whole dotted prefix), if it does.
std::optional<std::string> prefix_of(const std::vector<std::string>& names, const std::string& marker) {
  std::optional<std::string> best;
  for (const auto& name : names) {
    if (!ends_with(name, marker)) continue;
    std::string prefix = name.substr(0, name.size() - marker.size());
    if (!prefix.empty() && prefix.back() != '.') continue;
    if (!best || prefix.size() < best->size()) best = prefix;
  }
  return best;
}

}  // namespace

ShapeMap shapes_of(const safetensors::Checkpoint& checkpoint) {
  ShapeMap shapes;
  for (const auto& t : checkpoint.tensors()) shapes.emplace(t.name, t.shape);
  return shapes;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

const char* kind_name(ModelKind kind) {
  switch (kind) {
    case ModelKind::flux_transformer: return "flux-transformer";
    case ModelKind::autoencoder: return "autoencoder";
    case ModelKind::t5_encoder: return "t5-encoder";
    case ModelKind::clip_text: return "clip-text";
  }
  return "?";
}

const char* layout_name(KeyLayout layout) {
  switch (layout) {
    case KeyLayout::bfl: return "bfl";
    case KeyLayout::diffusers: return "diffusers";
    case KeyLayout::huggingface: return "huggingface";
  }
  return "?";
}

std::vector<Component> detect_components(const std::vector<std::string>& names) {
  std::vector<Component> found;
  for (const auto& sig : signatures()) {
    const auto prefix = prefix_of(names, sig.marker);
    if (!prefix) continue;
    std::size_t count = 0;
    for (const auto& name : names) {
      if (!starts_with(name, *prefix)) continue;
      const std::string rest = name.substr(prefix->size());
      if (std::any_of(sig.roots.begin(), sig.roots.end(), [&](const std::string& r) { return starts_with(rest, r); }))
        ++count;
    }
    found.push_back({sig.kind, sig.layout, *prefix, count});
  }
  return found;
}

}  // namespace genplug::flux
