// See transformer_source.hpp. A checkpoint is read through genplug::safetensors (memory-mapped) and mapped to
// BFL names with the shape-level key plan of <genplug/flux/transformer_keys.hpp>; each BFL tensor is
// materialised once, directly in the model dtype on the device.
#include "transformer_source.hpp"

#include <genplug/flux/presets.hpp>
#include <genplug/flux/transformer_keys.hpp>
#include <genplug/plugin.hpp>
#include <genplug/safetensors.hpp>

namespace genplug::flux {

namespace {

namespace st = genplug::safetensors;

// A zero-copy view of F32/F16/BF16 data (the mapping outlives this call), or a float32 copy otherwise.
torch::Tensor cpu_tensor(const st::TensorInfo& info) {
  auto view = [&](torch::Dtype d) {
    return torch::from_blob(const_cast<uint8_t*>(info.data), info.shape, torch::TensorOptions().dtype(d));
  };
  switch (info.dtype) {
    case st::DType::F32: return view(torch::kFloat32);
    case st::DType::F16: return view(torch::kFloat16);
    case st::DType::BF16: return view(torch::kBFloat16);
    default: {
      std::vector<float> v = st::to_float32(info);
      return torch::from_blob(v.data(), info.shape, torch::TensorOptions().dtype(torch::kFloat32)).clone();
    }
  }
}

torch::Tensor materialise(const KeyMerge& m, const st::Checkpoint& ckpt, torch::Dtype dtype, torch::Device device) {
  std::vector<torch::Tensor> parts;
  for (const auto& name : m.sources) parts.push_back(cpu_tensor(ckpt.at(name)));
  torch::Tensor t;
  switch (m.op) {
    case KeyMerge::Op::copy: t = parts.at(0); break;
    case KeyMerge::Op::concat: t = torch::cat(parts, 0); break;
    case KeyMerge::Op::swap_halves: {  // diffusers norm_out [scale; shift] -> BFL [shift; scale]
      auto halves = parts.at(0).chunk(2, 0);
      t = torch::cat({halves[1], halves[0]}, 0);
      break;
    }
  }
  // copy=true: a plain F32 tensor would otherwise stay a view of the mapping, which closes with the checkpoint.
  return t.to(device, dtype, /*non_blocking=*/false, /*copy=*/true).contiguous();
}

TransformerSource from_checkpoint(const ModelSettings& s, torch::Dtype dtype, torch::Device device) {
  const st::Checkpoint ckpt(s.transformer);
  const std::string source = s.transformer;
  ShapeMap shapes = shapes_of(ckpt);
  std::vector<std::string> names;
  for (const auto& [name, shape] : shapes) names.push_back(name);
  const TransformerKeys keys = detect_transformer_layout(names, source);
  const std::vector<KeyMerge> plan = transformer_key_plan(names, keys, source);
  const ShapeMap bfl_shapes = apply_key_plan(plan, shapes, source);

  TransformerSource out;
  FluxConfig inferred = infer_flux_config(bfl_shapes, source);
  if (inferred.axes_dim.empty() && !s.overrides.contains("axes_dim"))
    throw ConfigError("config.config.axes_dim: " + source + " has head dim " + std::to_string(inferred.head_dim()) +
                      "; its rotary axes cannot be inferred, give them explicitly");
  out.config = apply_config_overrides(inferred, s.overrides);
  if (s.preset) {
    FluxConfig expected = flux_preset(*s.preset);
    expected.axes_dim = out.config.axes_dim;
    check_flux_config(expected, inferred, source);
  }
  check_flux_config(out.config, inferred, source);
  check_flux_shapes(bfl_shapes, out.config, source);
  out.preset = s.preset.value_or(out.config.guidance_embed ? "flux-dev" : "flux-schnell");
  for (const KeyMerge& m : plan) out.weights.emplace(m.target, materialise(m, ckpt, dtype, device));
  return out;
}

}  // namespace

TransformerSource load_transformer_source(const ModelSettings& s, torch::Dtype dtype, torch::Device device) {
  if (s.transformer == "random") {
    TransformerSource out;
    out.preset = s.preset.value_or("tiny");
    out.config = apply_config_overrides(flux_preset(out.preset), s.overrides);
    validate_flux_config(out.config);
    out.weights = random_flux_weights(out.config, s.seed, dtype, device);
    return out;
  }
  try {
    return from_checkpoint(s, dtype, device);
  } catch (const Error&) {
    throw;
  } catch (const WeightError& e) {
    throw Error(GENPLUG_E_CONFIG, std::string("transformer: ") + e.what());
  } catch (const st::Error& e) {
    throw Error(GENPLUG_E_IO, std::string("transformer: ") + e.what());
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(GENPLUG_E_IO, "transformer " + s.transformer + ": " + e.what());
  }
}

}  // namespace genplug::flux
