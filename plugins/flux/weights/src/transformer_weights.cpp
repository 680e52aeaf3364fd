// The FLUX transformer's weights under BFL names, from a BFL or diffusers checkpoint.
#include <genplug/flux/weights.hpp>

namespace genplug::flux {
namespace {

namespace st = genplug::safetensors;

torch::Tensor build(const KeyMerge& m, const std::vector<torch::Tensor>& parts) {
  switch (m.op) {
    case KeyMerge::Op::copy:
      return parts.at(0);
    case KeyMerge::Op::concat:
      return torch::cat(parts, 0);
    case KeyMerge::Op::swap_halves: {  // diffusers norm_out [scale; shift] -> BFL [shift; scale]
      const auto halves = parts.at(0).chunk(2, 0);
      return torch::cat({halves[1], halves[0]}, 0);
    }
  }
  return {};
}

std::vector<std::string> names_of(const st::Checkpoint& checkpoint) {
  std::vector<std::string> names;
  names.reserve(checkpoint.tensors().size());
  for (const auto& t : checkpoint.tensors()) names.push_back(t.name);
  return names;
}

}  // namespace

TensorMap apply_key_plan(const std::vector<KeyMerge>& plan, const TensorMap& tensors, const std::string& source) {
  TensorMap out;
  for (const auto& m : plan) {
    std::vector<torch::Tensor> parts;
    for (const auto& name : m.sources) {
      const auto it = tensors.find(name);
      if (it == tensors.end()) throw WeightError(source + ": missing tensor '" + name + "'");
      parts.push_back(it->second);
    }
    out.emplace(m.target, build(m, parts));
  }
  return out;
}

TensorMap diffusers_to_bfl_transformer(const TensorMap& diffusers) {
  const std::string source = "diffusers transformer tensors";
  std::vector<std::string> names;
  ShapeMap shapes;
  for (const auto& [name, t] : diffusers) {
    names.push_back(name);
    shapes.emplace(name, t.sizes().vec());
  }
  const auto plan = transformer_key_plan(names, TransformerKeys{TransformerLayout::diffusers, ""}, source);
  apply_key_plan(plan, shapes, source);  // shape checks with clear messages before torch::cat would complain
  return apply_key_plan(plan, diffusers, source);
}

FluxTransformerWeights load_flux_transformer(const st::Checkpoint& checkpoint,
                                             const std::optional<FluxConfig>& explicit_config,
                                             torch::ScalarType dtype, torch::Device device) {
  const std::string source = checkpoint.path().string();
  const auto names = names_of(checkpoint);
  FluxTransformerWeights out;
  out.keys = detect_transformer_layout(names, source);
  const auto plan = transformer_key_plan(names, out.keys, source);
  const ShapeMap bfl_shapes = apply_key_plan(plan, shapes_of(checkpoint), source);

  const FluxConfig inferred = infer_flux_config(bfl_shapes, source);
  if (explicit_config) {
    check_flux_config(*explicit_config, inferred, source);
    out.config = *explicit_config;
  } else {
    if (inferred.axes_dim.empty())
      throw WeightError(source + ": head dim " + std::to_string(inferred.head_dim()) +
                        " is not FLUX.1's 128, so axes_dim cannot be inferred; give an explicit config");
    out.config = inferred;
  }
  out.ignored = check_flux_shapes(bfl_shapes, out.config, source);

  const ShapeMap expected = expected_flux_shapes(out.config);
  for (const auto& m : plan) {
    if (!expected.count(m.target)) continue;
    std::vector<torch::Tensor> parts;
    for (const auto& name : m.sources) parts.push_back(load_tensor(checkpoint.at(name), dtype, device));
    out.tensors.emplace(m.target, build(m, parts));
  }
  return out;
}

}  // namespace genplug::flux
