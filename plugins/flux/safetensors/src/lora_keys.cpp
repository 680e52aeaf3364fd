// LoRA key formats for the FLUX transformer (docs/lora.md): every module is mapped onto the BFL weight it
// changes, whatever layout the file uses; fused and split projections meet at the BFL fused weight.
#include <genplug/flux/lora_keys.hpp>

#include <map>
#include <optional>
#include <utility>

#include <genplug/flux/transformer_keys.hpp>
#include <genplug/safetensors.hpp>

#include <genplug/flux/name_text.hpp>

namespace genplug::flux {
namespace {

[[noreturn]] void fail(const std::string& source, const std::string& what) { throw WeightError(source + ": " + what); }

enum class Role { down, up, alpha, unsupported };

// "<module>.lora_A.weight" -> (module, down), and the other suffixes. PEFT may keep its adapter name:
// "<module>.lora_A.default.weight". DoRA magnitudes and LyCORIS LoHa/LoKr factors are recognised so that
// they are refused by name rather than half applied.
std::optional<std::pair<std::string, Role>> split_role(const std::string& name) {
  static const std::pair<const char*, Role> suffixes[] = {
      {".lora_A.weight", Role::down}, {".lora_down.weight", Role::down}, {".lora_B.weight", Role::up},
      {".lora_up.weight", Role::up},  {".alpha", Role::alpha},           {".dora_scale", Role::unsupported},
      {".lora_magnitude_vector", Role::unsupported}};
  for (const auto& [suffix, role] : suffixes)
    if (ends_with(name, suffix)) return std::make_pair(name.substr(0, name.size() - std::string(suffix).size()), role);
  for (const char* marker : {".hada_", ".lokr_"}) {
    const size_t at = name.rfind(marker);
    if (at != std::string::npos) return std::make_pair(name.substr(0, at), Role::unsupported);
  }
  for (const auto& [infix, role] : {std::make_pair(".lora_A.", Role::down), std::make_pair(".lora_B.", Role::up)}) {
    const size_t at = name.rfind(infix);
    if (at != std::string::npos && ends_with(name, ".weight") && name.find('.', at + 8) == name.size() - 7)
      return std::make_pair(name.substr(0, at), role);
  }
  return std::nullopt;
}

bool is_text_encoder(const std::string& module) {
  for (const char* p : {"lora_te", "text_encoder.", "text_encoder_2.", "text_encoders.", "te1.", "te2.", "te3."})
    if (starts_with(module, p)) return true;
  return false;
}

// A BFL module name (no ".weight") of the transformer, or nothing.
bool is_bfl_module(const std::string& m) {
  for (const char* p : {"double_blocks.", "single_blocks.", "img_in", "txt_in", "time_in.", "vector_in.", "guidance_in.",
                        "final_layer."})
    if (starts_with(m, p)) return true;
  return false;
}

bool is_diffusers_module(const std::string& m) {
  for (const char* p : {"transformer_blocks.", "single_transformer_blocks.", "x_embedder", "context_embedder",
                        "time_text_embed.", "norm_out.", "proj_out"})
    if (starts_with(m, p)) return true;
  return false;
}

// kohya writes a module's dotted name with '_' for '.'. The names have underscores of their own, so they are
// matched from tables: top-level modules, and per block kind the block's prefix and its modules.
using NameTable = std::vector<std::pair<std::string, std::string>>;  // underscored -> dotted
struct BlockTable {
  std::string underscored, dotted;  // "double_blocks_" -> "double_blocks."
  NameTable inner;
};

std::optional<std::string> dotted_name(const std::string& rest, const NameTable& top, const std::vector<BlockTable>& blocks) {
  for (const auto& [k, d] : top)
    if (rest == k) return d;
  for (const BlockTable& b : blocks) {
    if (!starts_with(rest, b.underscored)) continue;
    const size_t digits_end = rest.find('_', b.underscored.size());
    if (digits_end == std::string::npos || digits_end == b.underscored.size()) return std::nullopt;
    const std::string index = rest.substr(b.underscored.size(), digits_end - b.underscored.size());
    if (index.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    for (const auto& [k, d] : b.inner)
      if (rest.compare(digits_end + 1, std::string::npos, k) == 0) return b.dotted + index + "." + d;
    return std::nullopt;
  }
  return std::nullopt;
}

// kohya (sd-scripts): BFL module names after "lora_unet_".
std::optional<std::string> kohya_to_bfl(const std::string& module) {
  if (!starts_with(module, "lora_unet_")) return std::nullopt;
  static const NameTable top = {
      {"img_in", "img_in"}, {"txt_in", "txt_in"},
      {"time_in_in_layer", "time_in.in_layer"}, {"time_in_out_layer", "time_in.out_layer"},
      {"vector_in_in_layer", "vector_in.in_layer"}, {"vector_in_out_layer", "vector_in.out_layer"},
      {"guidance_in_in_layer", "guidance_in.in_layer"}, {"guidance_in_out_layer", "guidance_in.out_layer"},
      {"final_layer_linear", "final_layer.linear"}, {"final_layer_adaLN_modulation_1", "final_layer.adaLN_modulation.1"}};
  static const std::vector<BlockTable> blocks = {
      {"double_blocks_", "double_blocks.",
       {{"img_attn_qkv", "img_attn.qkv"}, {"img_attn_proj", "img_attn.proj"}, {"img_mlp_0", "img_mlp.0"},
        {"img_mlp_2", "img_mlp.2"}, {"img_mod_lin", "img_mod.lin"}, {"txt_attn_qkv", "txt_attn.qkv"},
        {"txt_attn_proj", "txt_attn.proj"}, {"txt_mlp_0", "txt_mlp.0"}, {"txt_mlp_2", "txt_mlp.2"},
        {"txt_mod_lin", "txt_mod.lin"}}},
      {"single_blocks_", "single_blocks.", {{"linear1", "linear1"}, {"linear2", "linear2"}, {"modulation_lin", "modulation.lin"}}}};
  return dotted_name(module.substr(10), top, blocks);
}

// kohya-style keys with diffusers module names after "lora_transformer_" (some trainers and diffusers'
// converters write them): the diffusers name.
std::optional<std::string> kohya_diffusers_name(const std::string& module) {
  if (!starts_with(module, "lora_transformer_")) return std::nullopt;
  static const NameTable top = {
      {"x_embedder", "x_embedder"}, {"context_embedder", "context_embedder"}, {"norm_out_linear", "norm_out.linear"},
      {"proj_out", "proj_out"},
      {"time_text_embed_timestep_embedder_linear_1", "time_text_embed.timestep_embedder.linear_1"},
      {"time_text_embed_timestep_embedder_linear_2", "time_text_embed.timestep_embedder.linear_2"},
      {"time_text_embed_text_embedder_linear_1", "time_text_embed.text_embedder.linear_1"},
      {"time_text_embed_text_embedder_linear_2", "time_text_embed.text_embedder.linear_2"},
      {"time_text_embed_guidance_embedder_linear_1", "time_text_embed.guidance_embedder.linear_1"},
      {"time_text_embed_guidance_embedder_linear_2", "time_text_embed.guidance_embedder.linear_2"}};
  static const NameTable inner = {
      {"attn_to_q", "attn.to_q"}, {"attn_to_k", "attn.to_k"}, {"attn_to_v", "attn.to_v"},
      {"attn_to_out_0", "attn.to_out.0"}, {"attn_add_q_proj", "attn.add_q_proj"}, {"attn_add_k_proj", "attn.add_k_proj"},
      {"attn_add_v_proj", "attn.add_v_proj"}, {"attn_to_add_out", "attn.to_add_out"}, {"ff_net_0_proj", "ff.net.0.proj"},
      {"ff_net_2", "ff.net.2"}, {"ff_context_net_0_proj", "ff_context.net.0.proj"}, {"ff_context_net_2", "ff_context.net.2"},
      {"norm1_linear", "norm1.linear"}, {"norm1_context_linear", "norm1_context.linear"}, {"norm_linear", "norm.linear"},
      {"proj_mlp", "proj_mlp"}, {"proj_out", "proj_out"}};
  static const std::vector<BlockTable> blocks = {{"single_transformer_blocks_", "single_transformer_blocks.", inner},
                                                 {"transformer_blocks_", "transformer_blocks.", inner}};
  return dotted_name(module.substr(17), top, blocks);
}

std::string strip_any(const std::string& s, std::initializer_list<const char*> prefixes) {
  for (const char* p : prefixes)
    if (starts_with(s, p)) return s.substr(std::string(p).size());
  return s;
}

// The module's format and target, or nothing for a name no format explains.
std::optional<LoraModule> classify(const std::string& module) {
  LoraModule m;
  m.module = module;
  if (auto bfl = kohya_to_bfl(module)) {
    m.format = LoraFormat::kohya;
    m.target = *bfl + ".weight";
    return m;
  }
  if (auto diffusers = kohya_diffusers_name(module)) {
    const BflTarget t = bfl_target_of_diffusers_name(*diffusers + ".weight");
    m.format = LoraFormat::kohya;
    m.target = t.name;
    m.part = t.part;
    m.swap_halves = t.swap_halves;
    return m;
  }
  const std::string bfl =
      strip_any(module, {"model.diffusion_model.", "diffusion_model.", "base_model.model.", "transformer."});
  if (is_bfl_module(bfl)) {
    m.format = LoraFormat::bfl;
    m.target = bfl + ".weight";
    return m;
  }
  const std::string diffusers = strip_any(module, {"base_model.model.", "transformer.", "unet."});
  if (is_diffusers_module(diffusers)) {
    const BflTarget t = bfl_target_of_diffusers_name(diffusers + ".weight");
    if (t.name == diffusers + ".weight") return std::nullopt;  // a diffusers-looking name the mapping lacks
    m.format = LoraFormat::diffusers;
    m.target = t.name;
    m.part = t.part;
    m.swap_halves = t.swap_halves;
    return m;
  }
  return std::nullopt;
}

}  // namespace

const char* lora_format_name(LoraFormat f) {
  return f == LoraFormat::diffusers ? "diffusers" : f == LoraFormat::kohya ? "kohya" : "bfl";
}

LoraPlan plan_lora(const std::vector<std::string>& names, const std::string& source) {
  LoraPlan plan;
  std::map<std::string, std::map<Role, std::string>> modules;  // module -> role -> tensor name
  for (const std::string& name : names) {
    const auto split = split_role(name);
    if (split && split->second == Role::unsupported && !is_text_encoder(split->first))
      fail(source, "'" + name + "' is a DoRA or LyCORIS (LoHa, LoKr) tensor: only plain low-rank LoRAs (down/up "
                   "matrices) are supported, applying the rest would give a different model");
    if (split && is_text_encoder(split->first)) {
      plan.text_encoder.push_back(name);
    } else if (!split || !classify(split->first)) {
      plan.unknown.push_back(name);
    } else if (const auto [it, added] = modules[split->first].emplace(split->second, name); !added) {
      // Two PEFT adapters of one module ("lora_A.default", "lora_A.other"), or lora_A beside lora_down: which one
      // is meant is not said, and taking either would drop the other without a word.
      fail(source, "LoRA module '" + split->first + "' has two tensors of one role, '" + it->second + "' and '" +
                       name + "' (two adapters in one file?): save one adapter per file");
    }
  }
  for (const auto& [module, roles] : modules) {
    if (!roles.count(Role::down) || !roles.count(Role::up))
      fail(source, "LoRA module '" + module + "' has " + (roles.count(Role::down) ? "a down (A)" : "no down (A)") +
                       " and " + (roles.count(Role::up) ? "an up (B)" : "no up (B)") + " matrix; both are needed");
    LoraModule m = *classify(module);
    m.down = roles.at(Role::down);
    m.up = roles.at(Role::up);
    if (roles.count(Role::alpha)) m.alpha = roles.at(Role::alpha);
    plan.modules.push_back(std::move(m));
  }
  return plan;
}

std::pair<int64_t, int64_t> lora_rows(const LoraModule& m, const std::vector<int64_t>& target_shape) {
  const int64_t out = target_shape.at(0), in = target_shape.at(1);
  if (m.part < 0) return {0, out};
  if (m.part < 3) return {m.part * in, in};
  return {3 * in, out - 3 * in};
}

namespace {

// What is wrong with a module's down and up on their own, or "".
std::string factor_problem(const std::vector<int64_t>& down, const std::vector<int64_t>& up) {
  if (down.size() != 2 || up.size() != 2) return "down and up must be matrices";
  if (down[0] <= 0) return "rank " + std::to_string(down[0]) + ": down has no rows, so the module changes nothing";
  if (up[1] != down[0]) return "the ranks of down and up differ";
  return "";
}

void check_alpha(const LoraModule& m, const ShapeMap& shapes, const std::string& source) {
  if (m.alpha.empty()) return;
  const auto& alpha = shapes.at(m.alpha);
  int64_t n = 1;
  for (int64_t d : alpha) n *= d;
  if (n != 1) fail(source, "LoRA module '" + m.module + "': alpha has shape " + shape_string(alpha) + ", expected a scalar");
}

}  // namespace

void check_lora_has_modules(const LoraPlan& plan, const std::string& source) {
  if (!plan.modules.empty()) return;
  std::string unknown;
  for (size_t i = 0; i < plan.unknown.size() && i < 8; ++i) unknown += (i ? ", '" : " '") + plan.unknown[i] + "'";
  fail(source, "no LoRA module for the FLUX transformer in this file (" + std::to_string(plan.text_encoder.size()) +
                   " text-encoder tensors, " + std::to_string(plan.unknown.size()) + " unknown:" +
                   (unknown.empty() ? " none" : unknown) +
                   (plan.unknown.size() > 8 ? ", ...; genplug inspect lists them all)" : ")"));
}

int64_t check_lora_factors(const LoraModule& m, const ShapeMap& shapes, const std::string& source) {
  const auto& down = shapes.at(m.down);
  const auto& up = shapes.at(m.up);
  if (const std::string why = factor_problem(down, up); !why.empty())
    fail(source, "LoRA module '" + m.module + "': " + why + " (down " + shape_string(down) + ", up " +
                     shape_string(up) + ")");
  check_alpha(m, shapes, source);
  return down[0];
}

void check_lora_dtypes(const LoraModule& m, const safetensors::Checkpoint& file, const std::string& source) {
  for (const std::string& factor : {m.down, m.up}) {
    const safetensors::DType type = file.at(factor).dtype;
    if (!safetensors::is_floating(type))
      fail(source, "LoRA module '" + m.module + "': '" + factor + "' is " + safetensors::dtype_name(type) +
                       ", not a floating-point type (F64, F32, F16, BF16, F8)");
  }
  if (!m.alpha.empty() && file.at(m.alpha).dtype == safetensors::DType::BOOL)
    fail(source, "LoRA module '" + m.module + "': its alpha '" + m.alpha + "' is BOOL, not a number");
}

int64_t check_lora_shapes(const LoraModule& m, const ShapeMap& shapes, const std::vector<int64_t>& target_shape,
                          const std::string& source) {
  const auto& down = shapes.at(m.down);
  const auto& up = shapes.at(m.up);
  auto bad = [&](const std::string& why) {
    fail(source, "LoRA module '" + m.module + "' does not fit '" + m.target + "' " + shape_string(target_shape) +
                     ": " + why + " (down " + shape_string(down) + ", up " + shape_string(up) + ")");
  };
  if (target_shape.size() != 2) bad("the target is not a matrix");
  if (const std::string why = factor_problem(down, up); !why.empty()) bad(why);
  const int64_t rank = down[0];
  const auto [first, rows] = lora_rows(m, target_shape);
  if (down[1] != target_shape[1]) bad("down has " + std::to_string(down[1]) + " inputs, the target " +
                                      std::to_string(target_shape[1]));
  if (rows <= 0 || first + rows > target_shape[0] || up[0] != rows)
    bad("up has " + std::to_string(up[0]) + " rows, the target part " + std::to_string(rows));
  if (m.swap_halves && rows % 2) bad("an odd row count cannot be swapped in halves");
  check_alpha(m, shapes, source);
  return rank;
}

std::vector<std::string> lora_overlaps(const LoraPlan& plan) {
  std::vector<std::string> out;
  std::map<std::string, std::vector<const LoraModule*>> by_target;
  for (const LoraModule& m : plan.modules) {
    for (const LoraModule* other : by_target[m.target])
      if (other->part == m.part || other->part < 0 || m.part < 0)
        out.push_back("modules '" + other->module + "' and '" + m.module + "' both change '" + m.target + "'" +
                      (other->part == m.part && m.part >= 0 ? " (the same rows)" : "") + ": both are added");
    by_target[m.target].push_back(&m);
  }
  return out;
}

}  // namespace genplug::flux
