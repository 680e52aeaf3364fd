// FLUX transformer keys: layout detection, the diffusers -> BFL mapping, config inference, shape checks.
#include <genplug/flux/transformer_keys.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include <genplug/flux/name_text.hpp>

namespace genplug::flux {
namespace {

[[noreturn]] void fail(const std::string& source, const std::string& what) { throw WeightError(source + ": " + what); }

// A diffusers name (relative to its block, or top-level) and where it goes in BFL.
struct Rename {
  const char* from;  // prefix of the diffusers name (or the whole name when exact)
  const char* to;
  int part = -1;     // position in a concatenation of `parts`; -1: plain rename
  int parts = 1;
  bool exact = false;
  bool swap = false;
};

const std::vector<Rename>& top_level_renames() {
  static const std::vector<Rename> r = {
      {"time_text_embed.timestep_embedder.linear_1.", "time_in.in_layer."},
      {"time_text_embed.timestep_embedder.linear_2.", "time_in.out_layer."},
      {"time_text_embed.text_embedder.linear_1.", "vector_in.in_layer."},
      {"time_text_embed.text_embedder.linear_2.", "vector_in.out_layer."},
      {"time_text_embed.guidance_embedder.linear_1.", "guidance_in.in_layer."},
      {"time_text_embed.guidance_embedder.linear_2.", "guidance_in.out_layer."},
      {"context_embedder.", "txt_in."},
      {"x_embedder.", "img_in."},
      {"proj_out.", "final_layer.linear."},
      {"norm_out.linear.", "final_layer.adaLN_modulation.1.", -1, 1, false, true},
  };
  return r;
}

const std::vector<Rename>& double_block_renames() {
  static const std::vector<Rename> r = {
      {"norm1.linear.", "img_mod.lin."},
      {"norm1_context.linear.", "txt_mod.lin."},
      {"attn.to_q.", "img_attn.qkv.", 0, 3},
      {"attn.to_k.", "img_attn.qkv.", 1, 3},
      {"attn.to_v.", "img_attn.qkv.", 2, 3},
      {"attn.add_q_proj.", "txt_attn.qkv.", 0, 3},
      {"attn.add_k_proj.", "txt_attn.qkv.", 1, 3},
      {"attn.add_v_proj.", "txt_attn.qkv.", 2, 3},
      {"attn.norm_q.weight", "img_attn.norm.query_norm.scale", -1, 1, true},
      {"attn.norm_k.weight", "img_attn.norm.key_norm.scale", -1, 1, true},
      {"attn.norm_added_q.weight", "txt_attn.norm.query_norm.scale", -1, 1, true},
      {"attn.norm_added_k.weight", "txt_attn.norm.key_norm.scale", -1, 1, true},
      {"attn.to_out.0.", "img_attn.proj."},
      {"attn.to_add_out.", "txt_attn.proj."},
      {"ff.net.0.proj.", "img_mlp.0."},
      {"ff.net.2.", "img_mlp.2."},
      {"ff_context.net.0.proj.", "txt_mlp.0."},
      {"ff_context.net.2.", "txt_mlp.2."},
  };
  return r;
}

const std::vector<Rename>& single_block_renames() {
  static const std::vector<Rename> r = {
      {"norm.linear.", "modulation.lin."},
      {"attn.to_q.", "linear1.", 0, 4},
      {"attn.to_k.", "linear1.", 1, 4},
      {"attn.to_v.", "linear1.", 2, 4},
      {"proj_mlp.", "linear1.", 3, 4},
      {"attn.norm_q.weight", "norm.query_norm.scale", -1, 1, true},
      {"attn.norm_k.weight", "norm.key_norm.scale", -1, 1, true},
      {"proj_out.", "linear2."},
  };
  return r;
}

struct Mapped {
  std::string target;
  int part = -1;
  int parts = 1;
  bool swap = false;
};

std::optional<Mapped> apply_renames(const std::string& name, const std::vector<Rename>& renames,
                                    const std::string& target_prefix) {
  for (const auto& r : renames) {
    if (r.exact ? name != r.from : !starts_with(name, r.from)) continue;
    const std::string rest = r.exact ? "" : name.substr(std::string(r.from).size());
    return Mapped{target_prefix + r.to + rest, r.part, r.parts, r.swap};
  }
  return std::nullopt;
}

// "transformer_blocks.12.attn.to_q.weight" with block "transformer_blocks." -> (12, "attn.to_q.weight").
std::optional<std::pair<std::string, std::string>> split_block(const std::string& name, const std::string& block) {
  if (!starts_with(name, block)) return std::nullopt;
  const std::size_t dot = name.find('.', block.size());
  if (dot == std::string::npos || dot == block.size()) return std::nullopt;
  const std::string index = name.substr(block.size(), dot - block.size());
  if (!std::all_of(index.begin(), index.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  return std::make_pair(index, name.substr(dot + 1));
}

Mapped map_diffusers_name(const std::string& name) {
  if (auto b = split_block(name, "single_transformer_blocks."))
    if (auto m = apply_renames(b->second, single_block_renames(), "single_blocks." + b->first + ".")) return *m;
  if (auto b = split_block(name, "transformer_blocks."))
    if (auto m = apply_renames(b->second, double_block_renames(), "double_blocks." + b->first + ".")) return *m;
  if (auto m = apply_renames(name, top_level_renames(), "")) return *m;
  return Mapped{name};
}

}  // namespace

BflTarget bfl_target_of_diffusers_name(const std::string& diffusers_name) {
  const Mapped m = map_diffusers_name(diffusers_name);
  return {m.target, m.part, m.parts, m.swap};
}

namespace {

// sd.cpp accepts "...query_norm.weight" / "...key_norm.weight" for the BFL ".scale".
std::string normalise_bfl_name(const std::string& name) {
  for (const char* alias : {"query_norm.weight", "key_norm.weight"})
    if (ends_with(name, alias)) return name.substr(0, name.size() - 6) + "scale";
  return name;
}

const std::vector<int64_t>& need(const ShapeMap& shapes, const std::string& name, std::size_t rank,
                                 const std::string& source) {
  const auto it = shapes.find(name);
  if (it == shapes.end()) fail(source, "missing tensor '" + name + "'");
  if (it->second.size() != rank)
    fail(source, "tensor '" + name + "' has shape " + shape_string(it->second) + ", expected rank " +
                     std::to_string(rank));
  return it->second;
}

// The number of consecutive blocks "<block>0." .. "<block>(n-1)."; a gap is an error.
int64_t count_blocks(const ShapeMap& shapes, const std::string& block, const std::string& source) {
  std::set<int64_t> indices;
  for (const auto& [name, shape] : shapes)
    if (auto b = split_block(name, block)) indices.insert(std::stoll(b->first));
  const int64_t n = indices.empty() ? 0 : *indices.rbegin() + 1;
  for (int64_t i = 0; i < n; ++i)
    if (!indices.count(i))
      fail(source, "block '" + block + std::to_string(i) + "' is missing (blocks up to " + std::to_string(n - 1) +
                       " exist)");
  return n;
}

}  // namespace

const char* transformer_layout_name(TransformerLayout layout) {
  return layout == TransformerLayout::bfl ? "bfl" : "diffusers";
}

TransformerKeys detect_transformer_layout(const std::vector<std::string>& names, const std::string& source) {
  std::optional<TransformerKeys> found;
  for (const auto& c : detect_components(names)) {
    if (c.kind != ModelKind::flux_transformer) continue;
    if (found)
      fail(source, "holds both BFL ('" + (found->prefix + "img_in.weight") + "') and diffusers ('" + c.prefix +
                       "x_embedder.weight') transformer keys");
    found = TransformerKeys{c.layout == KeyLayout::bfl ? TransformerLayout::bfl : TransformerLayout::diffusers,
                            c.prefix};
  }
  if (!found)
    fail(source, "not a FLUX transformer checkpoint: no 'img_in.weight' (BFL) or 'x_embedder.weight' (diffusers) "
                 "tensor, with or without a prefix such as 'model.diffusion_model.'");
  return *found;
}

std::vector<KeyMerge> transformer_key_plan(const std::vector<std::string>& names, const TransformerKeys& keys,
                                           const std::string& source) {
  std::map<std::string, KeyMerge> plan;
  std::map<std::string, std::vector<std::string>> parts;  // target -> sources by part index
  for (const auto& name : names) {
    if (!starts_with(name, keys.prefix)) continue;
    const std::string local = name.substr(keys.prefix.size());
    Mapped m = keys.layout == TransformerLayout::bfl ? Mapped{normalise_bfl_name(local)} : map_diffusers_name(local);
    auto& merge = plan[m.target];
    merge.target = m.target;
    if (m.part < 0) {
      if (!merge.sources.empty() || parts.count(m.target))
        fail(source, "tensors '" + name + "' and '" + (merge.sources.empty() ? parts[m.target].front() : merge.sources.front()) +
                         "' both map to '" + m.target + "'");
      merge.sources = {name};
      merge.op = m.swap ? KeyMerge::Op::swap_halves : KeyMerge::Op::copy;
    } else {
      auto& slots = parts[m.target];
      slots.resize(static_cast<std::size_t>(m.parts));
      slots[static_cast<std::size_t>(m.part)] = name;
      merge.op = KeyMerge::Op::concat;
    }
  }
  // Concatenations need every part: name the first absent one, spelled like its siblings.
  for (auto& [target, slots] : parts) {
    const std::string& present = *std::find_if(slots.begin(), slots.end(), [](const std::string& s) { return !s.empty(); });
    for (std::size_t i = 0; i < slots.size(); ++i) {
      if (!slots[i].empty()) continue;
      const bool single = starts_with(target, "single_blocks.");
      static const char* kDouble[2][3] = {{"to_q", "to_k", "to_v"}, {"add_q_proj", "add_k_proj", "add_v_proj"}};
      static const char* kSingle[4] = {"attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"};
      std::string missing;
      if (single) {
        // "<prefix>single_transformer_blocks.N.<part>.<weight|bias>"
        const std::string block = present.substr(0, present.find('.', keys.prefix.size() + 26) + 1);
        missing = block + kSingle[i] + present.substr(present.rfind('.'));
      } else {
        const bool txt = target.find("txt_attn") != std::string::npos;
        const std::string block = present.substr(0, present.find(".attn.") + 6);
        missing = block + kDouble[txt][i] + present.substr(present.rfind('.'));
      }
      fail(source, "missing tensor '" + missing + "' (part " + std::to_string(i) + " of '" + target + "')");
    }
    plan[target].sources = slots;
  }
  std::vector<KeyMerge> out;
  out.reserve(plan.size());
  for (auto& [target, merge] : plan) out.push_back(std::move(merge));
  return out;
}

ShapeMap apply_key_plan(const std::vector<KeyMerge>& plan, const ShapeMap& shapes, const std::string& source) {
  ShapeMap out;
  for (const auto& m : plan) {
    auto shape_of = [&](const std::string& name) -> const std::vector<int64_t>& {
      const auto it = shapes.find(name);
      if (it == shapes.end()) fail(source, "missing tensor '" + name + "'");
      return it->second;
    };
    std::vector<int64_t> shape = shape_of(m.sources.front());
    if (m.op == KeyMerge::Op::concat) {
      if (shape.empty()) fail(source, "tensor '" + m.sources.front() + "' is a scalar and cannot be concatenated");
      for (std::size_t i = 1; i < m.sources.size(); ++i) {
        const auto& s = shape_of(m.sources[i]);
        if (s.size() != shape.size() || !std::equal(s.begin() + 1, s.end(), shape.begin() + 1))
          fail(source, "tensor '" + m.sources[i] + "' has shape " + shape_string(s) + ", which cannot be stacked under '" +
                           m.sources.front() + "' " + shape_string(shape_of(m.sources.front())) + " into '" + m.target + "'");
        shape[0] += s[0];
      }
    } else if (m.op == KeyMerge::Op::swap_halves) {
      if (shape.empty() || shape[0] % 2 != 0)
        fail(source, "tensor '" + m.sources.front() + "' has shape " + shape_string(shape) +
                         "; its first dim must be even to swap its halves");
    }
    out.emplace(m.target, std::move(shape));
  }
  return out;
}

ShapeMap bfl_transformer_shapes(const ShapeMap& shapes, const std::string& source) {
  std::vector<std::string> names;
  names.reserve(shapes.size());
  for (const auto& [name, shape] : shapes) names.push_back(name);
  const TransformerKeys keys = detect_transformer_layout(names, source);
  return apply_key_plan(transformer_key_plan(names, keys, source), shapes, source);
}

FluxConfig infer_flux_config(const ShapeMap& s, const std::string& source) {
  FluxConfig c;
  const auto& img_in = need(s, "img_in.weight", 2, source);
  c.hidden_size = img_in[0];
  c.in_channels = img_in[1];
  c.out_channels = need(s, "final_layer.linear.weight", 2, source)[0];
  c.vec_in_dim = need(s, "vector_in.in_layer.weight", 2, source)[1];
  c.context_in_dim = need(s, "txt_in.weight", 2, source)[1];
  // A zero-sized dimension is a valid (empty) tensor in the file format but no model: say which.
  auto positive = [&](int64_t v, const char* tensor) {
    if (v < 1) fail(source, std::string("tensor '") + tensor + "' has a zero-sized dimension");
  };
  positive(c.hidden_size, "img_in.weight");
  positive(c.in_channels, "img_in.weight");
  positive(c.out_channels, "final_layer.linear.weight");
  positive(c.vec_in_dim, "vector_in.in_layer.weight");
  positive(c.context_in_dim, "txt_in.weight");
  c.depth = count_blocks(s, "double_blocks.", source);
  c.depth_single_blocks = count_blocks(s, "single_blocks.", source);
  if (c.depth == 0 && c.depth_single_blocks == 0) fail(source, "has neither double_blocks nor single_blocks");

  const std::string norm = c.depth > 0 ? "double_blocks.0.img_attn.norm.query_norm.scale"
                                       : "single_blocks.0.norm.query_norm.scale";
  const int64_t head_dim = need(s, norm, 1, source)[0];
  if (head_dim <= 0 || c.hidden_size % head_dim != 0)
    fail(source, "tensor '" + norm + "' has " + std::to_string(head_dim) + " entries, which does not divide hidden size " +
                     std::to_string(c.hidden_size));
  c.num_heads = c.hidden_size / head_dim;

  const int64_t mlp_hidden = c.depth > 0 ? need(s, "double_blocks.0.img_mlp.0.weight", 2, source)[0]
                                         : need(s, "single_blocks.0.linear1.weight", 2, source)[0] - 3 * c.hidden_size;
  // The ratio whose mlp_hidden() (BFL's int(hidden_size * mlp_ratio)) gives the width back: mlp / hidden rounded to
  // a double can land a hair below it (hidden 60, width 245: 244.99999999999997), and the model was built a column
  // short and refused its own checkpoint. A step or two of the last bit does it; widths beyond 2^53, which only a
  // hostile header of empty tensors gives, are left to the config's range check (no endless loop where the product
  // passes int64's range).
  c.mlp_ratio = static_cast<double>(mlp_hidden) / static_cast<double>(c.hidden_size);
  if (mlp_hidden > 0 && mlp_hidden < (int64_t(1) << 53))
    for (int step = 0; step < 8 && c.mlp_hidden() < mlp_hidden; ++step)
      c.mlp_ratio = std::nextafter(c.mlp_ratio, INFINITY);
  c.qkv_bias = c.depth > 0 ? s.count("double_blocks.0.img_attn.qkv.bias") > 0 : true;
  c.guidance_embed = s.count("guidance_in.in_layer.weight") > 0;
  c.axes_dim = head_dim == 128 ? std::vector<int64_t>{16, 56, 56} : std::vector<int64_t>{};
  return c;
}

void check_flux_config(const FluxConfig& e, const FluxConfig& inferred, const std::string& source) {
  // Each field with what infer_flux_config read it from (BFL names: a diffusers file's parts are merged into
  // them), so that a damaged tensor is named beside the field it contradicts.
  auto field = [&](const char* name, auto configured, auto found, const std::string& evidence) {
    if (configured != found)
      fail(source, std::string("config field '") + name + "' is " + std::to_string(configured) +
                       " but the checkpoint's tensors say " + std::to_string(found) + " (" + evidence + ")");
  };
  const bool doubles = inferred.depth > 0;
  const auto tensor = [](const std::string& name) { return "tensor '" + name + "'"; };
  field("in_channels", e.in_channels, inferred.in_channels, tensor("img_in.weight"));
  field("out_channels", e.out_channels, inferred.out_channels, tensor("final_layer.linear.weight"));
  field("vec_in_dim", e.vec_in_dim, inferred.vec_in_dim, tensor("vector_in.in_layer.weight"));
  field("context_in_dim", e.context_in_dim, inferred.context_in_dim, tensor("txt_in.weight"));
  field("hidden_size", e.hidden_size, inferred.hidden_size, tensor("img_in.weight"));
  field("num_heads", e.num_heads, inferred.num_heads,
        "hidden size over " + tensor(doubles ? "double_blocks.0.img_attn.norm.query_norm.scale"
                                             : "single_blocks.0.norm.query_norm.scale"));
  field("depth", e.depth, inferred.depth, "its double_blocks.N tensors");
  field("depth_single_blocks", e.depth_single_blocks, inferred.depth_single_blocks, "its single_blocks.N tensors");
  field("mlp_hidden (hidden_size * mlp_ratio)", e.mlp_hidden(), inferred.mlp_hidden(),
        doubles ? tensor("double_blocks.0.img_mlp.0.weight")
                : tensor("single_blocks.0.linear1.weight") + " less 3 x hidden size");
  field("qkv_bias", static_cast<int>(e.qkv_bias), static_cast<int>(inferred.qkv_bias),
        doubles ? "whether it holds " + tensor("double_blocks.0.img_attn.qkv.bias")
                : "taken as 1 for single blocks only: their linear1 always has a bias");
  field("guidance_embed", static_cast<int>(e.guidance_embed), static_cast<int>(inferred.guidance_embed),
        "whether it holds " + tensor("guidance_in.in_layer.weight"));
  int64_t axes_sum = 0;
  for (int64_t a : e.axes_dim) axes_sum += a;
  if (e.num_heads <= 0 || axes_sum != e.head_dim())
    fail(source, "config field 'axes_dim' sums to " + std::to_string(axes_sum) + " but the head dim is " +
                     std::to_string(e.num_heads > 0 ? e.head_dim() : 0));
}

ShapeMap expected_flux_shapes(const FluxConfig& c) {
  const int64_t H = c.hidden_size, D = c.head_dim(), M = c.mlp_hidden();
  ShapeMap s;
  auto linear = [&](const std::string& name, int64_t out, int64_t in, bool bias = true) {
    s[name + ".weight"] = {out, in};
    if (bias) s[name + ".bias"] = {out};
  };
  linear("img_in", H, c.in_channels);
  linear("txt_in", H, c.context_in_dim);
  linear("time_in.in_layer", H, 256);
  linear("time_in.out_layer", H, H);
  linear("vector_in.in_layer", H, c.vec_in_dim);
  linear("vector_in.out_layer", H, H);
  if (c.guidance_embed) {
    linear("guidance_in.in_layer", H, 256);
    linear("guidance_in.out_layer", H, H);
  }
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string b = "double_blocks." + std::to_string(i) + ".";
    for (const char* stream : {"img", "txt"}) {
      const std::string p = b + stream;
      linear(p + "_mod.lin", 6 * H, H);
      linear(p + "_attn.qkv", 3 * H, H, c.qkv_bias);
      s[p + "_attn.norm.query_norm.scale"] = {D};
      s[p + "_attn.norm.key_norm.scale"] = {D};
      linear(p + "_attn.proj", H, H);
      linear(p + "_mlp.0", M, H);
      linear(p + "_mlp.2", H, M);
    }
  }
  for (int64_t i = 0; i < c.depth_single_blocks; ++i) {
    const std::string b = "single_blocks." + std::to_string(i) + ".";
    linear(b + "linear1", 3 * H + M, H);
    linear(b + "linear2", H, H + M);
    s[b + "norm.query_norm.scale"] = {D};
    s[b + "norm.key_norm.scale"] = {D};
    linear(b + "modulation.lin", 3 * H, H);
  }
  linear("final_layer.linear", c.out_channels, H);
  linear("final_layer.adaLN_modulation.1", 2 * H, H);
  return s;
}

std::vector<std::string> check_flux_shapes(const ShapeMap& shapes, const FluxConfig& config, const std::string& source) {
  const ShapeMap expected = expected_flux_shapes(config);
  for (const auto& [name, shape] : expected) {
    const auto it = shapes.find(name);
    if (it == shapes.end()) fail(source, "missing tensor '" + name + "' (expected shape " + shape_string(shape) + ")");
    if (it->second != shape)
      fail(source, "tensor '" + name + "' has shape " + shape_string(it->second) + ", expected " + shape_string(shape));
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, shape] : shapes)
    if (!expected.count(name)) unexpected.push_back(name);
  return unexpected;
}

}  // namespace genplug::flux
