// The FLUX transformer's checkpoint keys, from names and shapes only (no torch): which layout a checkpoint
// uses, how its tensors map onto the BFL names (flux.md §2, §7), the config they imply, and the shapes a
// config requires. genplug/flux/weights.hpp applies the same plan to real tensors.
#pragma once
#include <string>
#include <vector>

#include <genplug/flux/checkpoint_layout.hpp>
#include <genplug/flux/flux_config.hpp>

namespace genplug::flux {

enum class TransformerLayout { bfl, diffusers };
const char* transformer_layout_name(TransformerLayout layout);  // "bfl" / "diffusers"

struct TransformerKeys {
  TransformerLayout layout;
  std::string prefix;  // stripped from every name: "" or e.g. "model.diffusion_model."
};

// BFL when "<prefix>img_in.weight" exists, diffusers when "<prefix>x_embedder.weight" does (the shortest such
// prefix wins, so ComfyUI's "model.diffusion_model." single files work). Throws WeightError naming `source`
// when the names hold no FLUX transformer, or both layouts.
TransformerKeys detect_transformer_layout(const std::vector<std::string>& names, const std::string& source);

// How one BFL tensor is built from checkpoint tensors.
struct KeyMerge {
  enum class Op {
    copy,         // sources[0] as is
    concat,       // sources concatenated along dim 0 (q|k|v, or q|k|v|mlp for single-block linear1)
    swap_halves,  // sources[0] with its two dim-0 halves exchanged (diffusers norm_out [scale; shift])
  };
  std::string target;                // BFL name, no prefix
  std::vector<std::string> sources;  // checkpoint names, prefix included
  Op op = Op::copy;
};

// One KeyMerge per BFL tensor, in target-name order. Names outside the prefix are ignored; names inside it
// that the mapping does not know are copied under their own (stripped) name, so shape checks report them.
// BFL's "*_norm.weight" alias (sd.cpp) becomes "*_norm.scale". A diffusers group with a missing part (say
// to_k of a block whose to_q exists) throws WeightError naming source and tensor.
std::vector<KeyMerge> transformer_key_plan(const std::vector<std::string>& names, const TransformerKeys& keys,
                                           const std::string& source);

// Where one diffusers tensor lands under BFL names: `name`, and for one part of a fused tensor its position
// `part` among `parts` row blocks of hidden_size rows each (q, k, v; the single blocks' mlp part is the 4th
// and takes the remaining rows), or `swap_halves` for diffusers' norm_out ([scale; shift] vs [shift; scale]).
// A name the mapping does not know maps to itself.
struct BflTarget {
  std::string name;
  int part = -1;  // -1: the whole tensor
  int parts = 1;
  bool swap_halves = false;
};
BflTarget bfl_target_of_diffusers_name(const std::string& diffusers_name);

// The plan applied to shapes: BFL names -> shapes. Throws WeightError when concatenated parts disagree in
// their trailing dims or a swapped tensor has an odd first dim.
ShapeMap apply_key_plan(const std::vector<KeyMerge>& plan, const ShapeMap& shapes, const std::string& source);

// Layout detection + plan + apply: the checkpoint's transformer shapes under BFL names.
ShapeMap bfl_transformer_shapes(const ShapeMap& shapes, const std::string& source);

// The config BFL-named shapes imply: hidden size and in_channels (img_in), out_channels (final_layer.linear),
// vec_in_dim (vector_in), context_in_dim (txt_in), head dim (query_norm.scale) hence num_heads, depths (block
// indices, which must be 0..n-1), mlp_ratio (img_mlp.0 or linear1), qkv_bias, guidance_embed (guidance_in).
// axes_dim cannot be seen in weights: {16, 56, 56} when the head dim is 128 (every FLUX.1 model), otherwise
// empty (the caller must supply it). theta keeps its default. Throws WeightError naming the missing tensor.
FluxConfig infer_flux_config(const ShapeMap& bfl_shapes, const std::string& source);

// Throws WeightError naming the first field where `explicit_config` disagrees with `inferred`
// (in/out channels, vec_in_dim, context_in_dim, hidden_size, num_heads, depth, depth_single_blocks,
// mlp_ratio, qkv_bias, guidance_embed), or when its axes_dim does not sum to the head dim.
void check_flux_config(const FluxConfig& explicit_config, const FluxConfig& inferred, const std::string& source);

// Every BFL tensor a config requires, with its shape (flux.md §2).
ShapeMap expected_flux_shapes(const FluxConfig& config);

// Throws WeightError naming `source` and the first missing or wrong-shaped tensor (expected vs found).
// Returns the names present but not required (e.g. fp8 "*.weight_scale" extras), for the caller to report.
std::vector<std::string> check_flux_shapes(const ShapeMap& bfl_shapes, const FluxConfig& config,
                                           const std::string& source);

}  // namespace genplug::flux
