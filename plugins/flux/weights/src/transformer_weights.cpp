// The FLUX transformer's weights under BFL names, from a BFL or diffusers checkpoint.
#include <genplug/flux/weights.hpp>
#include <genplug/flux/name_text.hpp>

#include <algorithm>

#include "transformer_plan.hpp"

namespace genplug::flux {

namespace st = genplug::safetensors;

torch::Tensor build_merge(const KeyMerge& m, const std::vector<torch::Tensor>& parts) {
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

namespace {

// Two scales with the same values, whatever their dtypes and shapes ([] beside [1], F32 beside BF16: a converted
// file that kept both names).
bool same_values(const st::TensorInfo& a, const st::TensorInfo& b) {
  return torch::equal(load_tensor(a, torch::kFloat32, torch::kCPU).reshape({-1}),
                      load_tensor(b, torch::kFloat32, torch::kCPU).reshape({-1}));
}

// fp8 checkpoints store "<layer>.weight" with a per-tensor (or per-row) scale beside it: "<layer>.weight_scale"
// (sd.cpp convention) or "<layer>.scale_weight" (ComfyUI scaled_fp8). nullptr when there is none. Both names with
// different values is an error: which one the file's writer meant cannot be told (nothing reconciles them).
const st::TensorInfo* fp8_scale_of(const st::Checkpoint& checkpoint, const st::TensorInfo& weight) {
  if (!ends_with(weight.name, ".weight") ||
      (weight.dtype != st::DType::F8_E4M3 && weight.dtype != st::DType::F8_E5M2))
    return nullptr;
  const std::string base = weight.name.substr(0, weight.name.size() - 6);
  const st::TensorInfo* first = checkpoint.find(base + "weight_scale");
  const st::TensorInfo* second = checkpoint.find(base + "scale_weight");
  if (first && second && !same_values(*first, *second))
    throw WeightError(checkpoint.path().string() + ": '" + weight.name + "' has two different scales, '" +
                      first->name + "' and '" + second->name + "': remove the one that is not meant");
  return first ? first : second;
}

// A scale that is not finite makes its layer NaN or infinite; a per-tensor scale of 0 over codes that are not all 0
// zeroes the whole layer, which no quantiser writes (absmax gives amax / 448). A row's scale of 0 (a pruned row)
// is taken as it is.
void check_fp8_scale(const st::Checkpoint& checkpoint, const st::TensorInfo& scale_info, const torch::Tensor& scale,
                     const torch::Tensor& weight) {
  const std::string what = checkpoint.path().string() + ": tensor '" + scale_info.name + "'";
  if (!torch::isfinite(scale).all().item<bool>()) throw WeightError(what + " holds a value that is not finite");
  if (scale.numel() == 1 && scale.item<float>() == 0 && weight.ne(0).any().item<bool>())
    throw WeightError(what + " is 0: it would zero the whole layer");
}

// A checkpoint tensor as `dtype` on `device`, with its fp8 scale applied (in float32) when it has one. An integer
// tensor is no weight: its values had been converted as numbers (an I32 relabelling rendered noise with exit 0).
torch::Tensor load_weight(const st::Checkpoint& checkpoint, const std::string& name, torch::ScalarType dtype,
                          torch::Device device) {
  const st::TensorInfo& info = checkpoint.at(name);
  if (!st::is_floating(info.dtype))
    throw WeightError(checkpoint.path().string() + ": tensor '" + name + "' has dtype " + st::dtype_name(info.dtype) +
                      ", expected a floating-point type (F32, F16, BF16, F8, F64)");
  const st::TensorInfo* scale_info = fp8_scale_of(checkpoint, info);
  if (!scale_info) return load_tensor(info, dtype, device);
  torch::Tensor weight = load_tensor(info, torch::kFloat32, torch::kCPU);
  torch::Tensor scale = load_tensor(*scale_info, torch::kFloat32, torch::kCPU).reshape({-1});
  if (scale.numel() == weight.size(0) && scale.numel() != 1) {
    std::vector<int64_t> rows(static_cast<std::size_t>(weight.dim()), 1);
    rows[0] = -1;
    scale = scale.reshape(rows);
  } else if (scale.numel() != 1) {
    throw WeightError(checkpoint.path().string() + ": tensor '" + scale_info->name + "' has shape " +
                      shape_string(scale_info->shape) + "; a scale for '" + name + "' " +
                      shape_string(info.shape) + " must have 1 or " + std::to_string(weight.size(0)) + " entries");
  }
  check_fp8_scale(checkpoint, *scale_info, scale, weight);
  return (weight * scale).to(device, dtype);
}

// What loading `plan` allocates on the CPU: a merge that is one tensor as it is keeps what load_tensor allocates
// for it (nothing for a view of the mapping); one decoded from fp8 with its scale, or a concatenation or swap, the
// whole target. Meanwhile, per merge: the parts' decodes, an fp8 weight's product with its scale (float32), and the
// parts themselves where they are copies that the merge copies again.
LoadBytes load_bytes(const st::Checkpoint& checkpoint, const TransformerPlan& plan, torch::ScalarType dtype,
                     torch::Device device) {
  LoadBytes bytes;
  bytes.config = plan.config;
  if (!device.is_cpu()) return bytes;
  for (const KeyMerge& m : plan.merges) {
    double temporary = 0, values = 0;
    for (const auto& name : m.sources) {
      const st::TensorInfo& info = checkpoint.at(name);
      const double n = double(info.numel()), part = load_tensor_allocation(info, dtype, device);
      const bool scaled = fp8_scale_of(checkpoint, info) != nullptr;
      bytes.copied += m.op != KeyMerge::Op::copy || scaled ? n * double(c10::elementSize(dtype)) : part;
      temporary += load_tensor_temporary(info, scaled ? torch::kFloat32 : dtype) + (scaled ? n * 4 : 0) +
                   (m.op != KeyMerge::Op::copy ? part : 0);
      if (info.shape.size() == 2 && st::is_floating(info.dtype)) values += n;
    }
    bytes.temporary = std::max(bytes.temporary, temporary);
    bytes.matrix_values += values;
    bytes.largest_matrix = std::max(bytes.largest_matrix, values);
  }
  return bytes;
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
    out.emplace(m.target, build_merge(m, parts));
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

TransformerPlan plan_flux_transformer(const ShapeMap& shapes, const std::optional<FluxConfig>& explicit_config,
                                      const std::string& source) {
  std::vector<std::string> names;
  for (const auto& [name, shape] : shapes) names.push_back(name);
  TransformerPlan out;
  out.keys = detect_transformer_layout(names, source);
  out.merges = transformer_key_plan(names, out.keys, source);
  const ShapeMap bfl_shapes = apply_key_plan(out.merges, shapes, source);

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
  out.unused = check_flux_shapes(bfl_shapes, out.config, source);
  const ShapeMap expected = expected_flux_shapes(out.config);
  out.merges.erase(std::remove_if(out.merges.begin(), out.merges.end(),
                                  [&](const KeyMerge& m) { return !expected.count(m.target); }),
                   out.merges.end());
  return out;
}

FluxTransformerWeights load_flux_transformer(const st::Checkpoint& checkpoint,
                                             const std::optional<FluxConfig>& explicit_config,
                                             torch::ScalarType dtype, torch::Device device,
                                             const BeforeLoad& before_load) {
  TransformerPlan plan = plan_flux_transformer(shapes_of(checkpoint), explicit_config, checkpoint.path().string());
  if (before_load) before_load(load_bytes(checkpoint, plan, dtype, device));
  FluxTransformerWeights out;
  out.keys = plan.keys;
  out.config = plan.config;
  // fp8 scales are consumed with their weights, not ignored.
  for (const auto& name : plan.unused) {
    const bool scale = ends_with(name, ".weight_scale") || ends_with(name, ".scale_weight");
    const std::string weight = scale ? name.substr(0, name.rfind('.')) + ".weight" : std::string();
    const st::TensorInfo* w = scale ? checkpoint.find(out.keys.prefix + weight) : nullptr;
    if (!(w && fp8_scale_of(checkpoint, *w))) out.ignored.push_back(name);
  }
  for (const auto& m : plan.merges) {
    std::vector<torch::Tensor> parts;
    for (const auto& name : m.sources) parts.push_back(load_weight(checkpoint, name, dtype, device));
    out.tensors.emplace(m.target, build_merge(m, parts));
  }
  return out;
}

}  // namespace genplug::flux
