// Loading the autoencoder from checkpoint tensors: key layout, config inferred from shapes, strict checks.
#include <cmath>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include <genplug/flux/checkpoint_layout.hpp>
#include <genplug/safetensors.hpp>
#include <genplug/internal/bounded_json.hpp>
#include <genplug/internal/regular_file.hpp>

#include "autoencoder_impl.hpp"
#include "key_layout.hpp"

namespace genplug::flux {
namespace {

// A diffusers config.json is a few hundred bytes.
constexpr std::uintmax_t kMaxConfigBytes = std::uintmax_t(1) << 20;

using TensorSource = std::function<torch::Tensor(const std::string& original_name)>;

std::string config_text(const AutoencoderConfig& c) {
  std::ostringstream s;
  s << "in_channels " << c.in_channels << ", ch " << c.ch << ", out_ch " << c.out_ch << ", ch_mult "
    << torch::IntArrayRef(c.ch_mult) << ", num_res_blocks " << c.num_res_blocks << ", z_channels " << c.z_channels;
  return s.str();
}

// Reads shapes through the key mapping; every failure names the source and the checkpoint's tensor name.
class ShapeReader {
 public:
  ShapeReader(const vae::KeyMapping& mapping, const TensorSource& source, std::string name)
      : mapping_(mapping), source_(source), name_(std::move(name)) {}

  bool has(const std::string& internal) const { return mapping_.internal_to_original.count(internal) != 0; }

  // Size `dim` of a 4-D tensor (conv weight) needed to infer the config.
  int64_t conv_size(const std::string& internal, int64_t dim, int up_levels) const {
    const std::string original = vae::original_name(mapping_, internal, up_levels);
    if (!has(internal))
      throw WeightError(name_ + ": missing tensor '" + original + "' (needed to infer the autoencoder config)");
    const auto tensor = source_(original);
    if (tensor.dim() != 4)
      throw WeightError(name_ + ": tensor '" + original + "' has shape " + shape_text(tensor.sizes()) +
                        ", expected a 4-D convolution weight");
    return tensor.size(dim);
  }

 private:
  const vae::KeyMapping& mapping_;
  const TensorSource& source_;
  std::string name_;
};

int count_indexed(const vae::KeyMapping& mapping, const std::string& before, const std::string& after) {
  int n = 0;
  while (mapping.internal_to_original.count(before + std::to_string(n) + after)) ++n;
  return n;
}

AutoencoderConfig infer_config(const vae::KeyMapping& mapping, const TensorSource& source, const std::string& name,
                               const AutoencoderConfig& factors) {
  const ShapeReader reader(mapping, source, name);
  AutoencoderConfig c = factors;
  const int levels = count_indexed(mapping, "decoder.up.", ".block.0.conv1.weight");
  if (levels == 0)
    throw WeightError(name + ": missing tensor '" +
                      vae::original_name(mapping, "decoder.up.0.block.0.conv1.weight", 1) +
                      "' (needed to infer the autoencoder config)");
  c.ch = reader.conv_size("decoder.conv_out.weight", 1, levels);
  c.out_ch = reader.conv_size("decoder.conv_out.weight", 0, levels);
  c.z_channels = reader.conv_size("decoder.conv_in.weight", 1, levels);
  if (c.ch < 1 || c.out_ch < 1 || c.z_channels < 1) {
    const char* zero_sized = c.z_channels < 1 ? "decoder.conv_in.weight" : "decoder.conv_out.weight";
    throw WeightError(name + ": tensor '" + vae::original_name(mapping, zero_sized, levels) +
                      "' has a zero-sized dimension");
  }
  c.num_res_blocks = count_indexed(mapping, "decoder.up.0.block.", ".conv1.weight") - 1;
  if (c.num_res_blocks < 1)
    throw WeightError(name + ": missing tensor '" +
                      vae::original_name(mapping, "decoder.up.0.block.1.conv1.weight", levels) +
                      "' (decoder levels have num_res_blocks + 1 blocks)");
  c.ch_mult.clear();
  for (int l = 0; l < levels; ++l) {
    const std::string key = "decoder.up." + std::to_string(l) + ".block.0.conv2.weight";
    const int64_t channels = reader.conv_size(key, 0, levels);
    if (channels % c.ch != 0)
      throw WeightError(name + ": tensor '" + vae::original_name(mapping, key, levels) + "' has shape " +
                        shape_text(source(vae::original_name(mapping, key, levels)).sizes()) + ": " +
                        std::to_string(channels) + " output channels, not a multiple of ch = " +
                        std::to_string(c.ch));
    c.ch_mult.push_back(channels / c.ch);
    if (channels % c.norm_groups != 0)
      throw WeightError(name + ": " + std::to_string(channels) + " channels at level " + std::to_string(l) +
                        " do not split into norm_groups = " + std::to_string(c.norm_groups) +
                        " GroupNorm groups (norm_num_groups of the config.json beside the weights)");
  }
  if (reader.has("encoder.conv_in.weight")) c.in_channels = reader.conv_size("encoder.conv_in.weight", 1, levels);
  return c;
}

bool has_encoder_tensors(const vae::KeyMapping& mapping) {
  for (const auto& [internal, original] : mapping.internal_to_original)
    if (internal.rfind("encoder.", 0) == 0) return true;
  return false;
}

// Copies every parameter from the checkpoint; missing, misshapen, non-float and unused tensors are errors.
void load_parameters(Autoencoder::Impl& impl, const vae::KeyMapping& mapping, const TensorSource& source,
                     const std::string& name) {
  const int levels = static_cast<int>(impl.config.ch_mult.size());
  std::set<std::string> unused;
  for (const auto& [internal, original] : mapping.internal_to_original) unused.insert(internal);
  torch::NoGradGuard no_grad;
  for (const auto& [internal, parameter] : impl.named_parameters()) {
    const std::string original = vae::original_name(mapping, internal, levels);
    if (!unused.erase(internal))
      throw WeightError(name + ": missing tensor '" + original + "' (expected shape " +
                        shape_text(parameter.sizes()) + "; " + vae::layout_name(mapping.layout) + " layout)");
    auto tensor = source(original);
    // diffusers stores the attention's 1x1 convs as Linear weights [C, C].
    if (tensor.dim() == 2 && parameter.dim() == 4 && parameter.size(2) == 1 && parameter.size(3) == 1)
      tensor = tensor.view({tensor.size(0), tensor.size(1), 1, 1});
    if (!tensor.sizes().equals(parameter.sizes()))
      throw WeightError(name + ": tensor '" + original + "' has shape " + shape_text(tensor.sizes()) +
                        ", expected " + shape_text(parameter.sizes()) + " (config inferred from the checkpoint: " +
                        config_text(impl.config) + ")");
    if (!tensor.is_floating_point())
      throw WeightError(name + ": tensor '" + original + "' has dtype " + std::string(tensor.dtype().name()) +
                        ", expected a floating-point type");
    parameter.copy_(tensor);
  }
  if (!unused.empty()) {
    const std::string first = mapping.internal_to_original.at(*unused.begin());
    const bool quant = first.find("quant_conv.") != std::string::npos;
    throw WeightError(name + ": unexpected tensor '" + first + "'" +
                      (unused.size() > 1 ? " (and " + std::to_string(unused.size() - 1) + " more)" : "") +
                      (quant ? ": quant_conv/post_quant_conv belong to SD-style VAEs; the FLUX autoencoder has none"
                             : ": not a parameter of the autoencoder inferred from the checkpoint (" +
                                   config_text(impl.config) + ")"));
  }
}

Autoencoder::Impl* build(std::shared_ptr<Autoencoder::Impl>& out, const std::vector<std::string>& keys,
                         const TensorSource& source, const std::string& name, torch::Dtype dtype,
                         torch::Device device, const AutoencoderConfig& factors) {
  const auto mapping = vae::map_autoencoder_keys(keys, name);
  const auto config = infer_config(mapping, source, name, factors);
  out = vae::make_impl(config, has_encoder_tensors(mapping));
  out->dtype = dtype;
  out->device = device;
  vae::place(*out);
  load_parameters(*out, mapping, source, name);
  return out.get();
}

// The checkpoint's tensor as a CPU torch tensor, zero-copy over the mapping for torch-native dtypes.
torch::Tensor to_torch(const safetensors::TensorInfo& info, const std::string& file) {
  using safetensors::DType;
  auto* data = const_cast<uint8_t*>(info.data);
  switch (info.dtype) {
    case DType::F32: return torch::from_blob(data, info.shape, torch::kFloat);
    case DType::F64: return torch::from_blob(data, info.shape, torch::kDouble);
    case DType::F16: return torch::from_blob(data, info.shape, torch::kHalf);
    case DType::BF16: return torch::from_blob(data, info.shape, torch::kBFloat16);
    default:
      if (!safetensors::is_floating(info.dtype))
        throw WeightError(file + ": tensor '" + info.name + "' has dtype " +
                          safetensors::dtype_name(info.dtype) + ", expected a floating-point type");
      return torch::tensor(safetensors::to_float32(info), torch::kFloat).view(info.shape);
  }
}

// scaling_factor / shift_factor / norm_num_groups (and a shape cross-check) from a diffusers config.json beside
// the weights.
AutoencoderConfig factors_beside(const std::filesystem::path& weights) {
  AutoencoderConfig factors = AutoencoderConfig::flux();
  const auto folder = std::filesystem::is_directory(weights) ? weights : weights.parent_path();
  const auto path = folder / "config.json";
  if (!std::filesystem::is_regular_file(path)) return factors;
  nlohmann::json config;
  try {  // a regular file (checked above) of a few hundred bytes; bounded all the same
    config = genplug::internal::parse_bounded_json(genplug::internal::read_regular_file(path, kMaxConfigBytes));
  } catch (const std::exception& e) {
    throw std::runtime_error(path.string() + ": not valid JSON (" + genplug::internal::json_error_text(e) + ")");
  }
  if (!config.is_object() || config.value("_class_name", std::string()) != "AutoencoderKL") return factors;
  auto number = [&](const char* field, double fallback) {
    if (!config.contains(field) || config[field].is_null()) return fallback;
    if (!config[field].is_number()) throw WeightError(path.string() + ": field '" + field + "' is not a number");
    return config[field].get<double>();
  };
  factors.scale_factor = number("scaling_factor", factors.scale_factor);
  factors.shift_factor = number("shift_factor", 0.0);
  // A latent divided by 0 (or by a subnormal) is infinite, and a negative scale inverts it: no autoencoder's.
  if (!(std::isfinite(factors.scale_factor) && factors.scale_factor >= 1e-6 && factors.scale_factor <= 1e6))
    throw WeightError(path.string() + ": field 'scaling_factor' must be a finite number from 1e-6 to 1e6, got " +
                      config["scaling_factor"].dump());
  if (!(std::isfinite(factors.shift_factor) && std::fabs(factors.shift_factor) <= 1e6))
    throw WeightError(path.string() + ": field 'shift_factor' must be a finite number within +-1e6, got " +
                      config["shift_factor"].dump());
  const double groups = number("norm_num_groups", double(factors.norm_groups));
  if (!(groups >= 1 && groups <= 4096) || groups != std::floor(groups))
    throw WeightError(path.string() + ": field 'norm_num_groups' must be a whole number from 1 to 4096");
  factors.norm_groups = int64_t(groups);
  return factors;
}

void check_against_diffusers_config(const AutoencoderConfig& inferred, const std::filesystem::path& weights) {
  const auto folder = std::filesystem::is_directory(weights) ? weights : weights.parent_path();
  const auto path = folder / "config.json";
  if (!std::filesystem::is_regular_file(path)) return;
  std::string text;
  try {
    text = genplug::internal::read_regular_file(path, kMaxConfigBytes);
  } catch (const genplug::internal::UnreadableFile&) {
    return;  // factors_beside() has read it already and said what is wrong
  }
  const auto config = genplug::internal::parse_bounded_json_or_discarded(text);
  if (!config.is_object() || config.value("_class_name", std::string()) != "AutoencoderKL") return;
  auto expect = [&](const char* field, const nlohmann::json& value) {
    if (config.contains(field) && config[field] != value)
      throw WeightError(path.string() + ": field '" + field + "' is " + config[field].dump() +
                        " but the weights in " + weights.string() + " have " + value.dump());
  };
  std::vector<int64_t> block_out;
  for (int64_t m : inferred.ch_mult) block_out.push_back(inferred.ch * m);
  expect("latent_channels", inferred.z_channels);
  expect("block_out_channels", block_out);
  expect("layers_per_block", inferred.num_res_blocks);
  expect("out_channels", inferred.out_ch);
}

}  // namespace

Autoencoder Autoencoder::from_tensors(const AutoencoderTensors& tensors, const std::string& source,
                                      torch::Dtype dtype, torch::Device device, const AutoencoderConfig& factors) {
  std::vector<std::string> keys;
  for (const auto& [name, tensor] : tensors) keys.push_back(name);
  const TensorSource lookup = [&](const std::string& name) { return tensors.at(name); };
  std::shared_ptr<Impl> impl;
  build(impl, keys, lookup, source, dtype, device, factors);
  return Autoencoder(std::move(impl));
}

Autoencoder Autoencoder::from_checkpoint(const std::filesystem::path& path, torch::Dtype dtype,
                                         torch::Device device, const std::optional<AutoencoderConfig>& factors) {
  const safetensors::Checkpoint checkpoint(path);  // validates; errors name the file
  std::vector<std::string> keys;
  for (const auto& info : checkpoint.tensors()) keys.push_back(info.name);
  const std::string name = path.string();
  const TensorSource lookup = [&](const std::string& tensor) {
    const auto& info = checkpoint.at(tensor);
    return to_torch(info, info.file ? info.file->path().string() : name);
  };
  std::shared_ptr<Impl> impl;
  build(impl, keys, lookup, name, dtype, device, factors ? *factors : factors_beside(path));
  check_against_diffusers_config(impl->config, path);
  return Autoencoder(std::move(impl));
}

}  // namespace genplug::flux
