// Named configurations and the BFL parameter table (shapes follow BFL flux/model.py and modules/layers.py).
#include <genplug/flux/presets.hpp>

#include <numeric>
#include <sstream>
#include <utility>

#include <genplug/plugin.hpp>

namespace genplug::flux {

FluxConfig flux_preset(const std::string& name) {
  if (name == "flux-dev" || name == "dev" || name == "flux-krea-dev") return FluxConfig::dev();
  if (name == "flux-schnell" || name == "schnell") return FluxConfig::schnell();
  if (name == "tiny") {
    FluxConfig c;
    c.in_channels = 64;  // 16 VAE channels x 2 x 2, like the real model
    c.out_channels = 64;
    c.vec_in_dim = 32;
    c.context_in_dim = 48;
    c.hidden_size = 64;
    c.mlp_ratio = 4.0;
    c.num_heads = 4;
    c.depth = 2;
    c.depth_single_blocks = 2;
    c.axes_dim = {4, 6, 6};
    c.theta = 10000.0;
    c.qkv_bias = true;
    c.guidance_embed = true;
    return c;
  }
  if (name == "mini") {  // the project's trained model (docs/mini-model.md): FLUX's 16:56:56 axes at head dim 64
    FluxConfig c;
    c.in_channels = 64;
    c.out_channels = 64;
    c.vec_in_dim = 64;
    c.context_in_dim = 128;
    c.hidden_size = 128;
    c.mlp_ratio = 4.0;
    c.num_heads = 2;
    c.depth = 2;
    c.depth_single_blocks = 4;
    c.axes_dim = {8, 28, 28};
    c.theta = 10000.0;
    c.qkv_bias = true;
    c.guidance_embed = false;
    return c;
  }
  throw ConfigError("preset: unknown FLUX preset '" + name + "' (known: tiny, mini, flux-dev, flux-schnell)");
}

std::vector<std::string> flux_preset_names() { return {"tiny", "mini", "flux-dev", "flux-schnell"}; }

void validate_flux_config(const FluxConfig& c) {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw ConfigError("flux config: " + msg);
  };
  need(c.hidden_size > 0, "hidden_size must be > 0");
  need(c.num_heads > 0, "num_heads must be > 0");
  need(c.hidden_size % c.num_heads == 0, "hidden_size " + std::to_string(c.hidden_size) +
                                             " is not divisible by num_heads " + std::to_string(c.num_heads));
  need(c.in_channels > 0 && c.out_channels > 0, "in_channels and out_channels must be > 0");
  need(c.vec_in_dim > 0 && c.context_in_dim > 0, "vec_in_dim and context_in_dim must be > 0");
  need(c.depth >= 0 && c.depth_single_blocks >= 0, "depths must be >= 0");
  // Widths past 2^48 fit no memory, and the shapes' sums (3 * hidden + mlp width) would overflow int64 near 2^62.
  constexpr int64_t kWidest = int64_t(1) << 48;
  for (const auto& [name, width] : {std::pair{"hidden_size", c.hidden_size}, {"in_channels", c.in_channels},
                                    {"out_channels", c.out_channels}, {"vec_in_dim", c.vec_in_dim},
                                    {"context_in_dim", c.context_in_dim}})
    need(width <= kWidest, std::string(name) + " " + std::to_string(width) + " is wider than 2^48");
  const double mlp_width = double(c.hidden_size) * c.mlp_ratio;  // int64_t(hidden * ratio): mlp_hidden()
  auto shortest = [](double v) {  // 1e+308 and 1e-300 as such, not in 300 digits or as 0.000000
    std::ostringstream o;
    o << v;
    return o.str();
  };
  need(mlp_width >= 1 && mlp_width <= double(kWidest),
       "mlp_ratio " + shortest(c.mlp_ratio) + " makes the MLP " + shortest(mlp_width) +
           " wide (hidden_size x mlp_ratio): from 1 to 2^48");
  need(!c.axes_dim.empty(), "axes_dim must not be empty");
  for (int64_t d : c.axes_dim) need(d > 0 && d % 2 == 0, "every axes_dim entry must be even and > 0");
  int64_t sum = std::accumulate(c.axes_dim.begin(), c.axes_dim.end(), int64_t(0));
  need(sum == c.head_dim(), "sum(axes_dim) = " + std::to_string(sum) + " must equal the head dim " +
                                std::to_string(c.head_dim()));
  need(c.theta > 0, "theta must be > 0");
}

namespace {

void add_linear(WeightShapes& s, const std::string& name, int64_t out, int64_t in, bool bias = true) {
  s.push_back({name + ".weight", {out, in}});
  if (bias) s.push_back({name + ".bias", {out}});
}

void add_mlp_embedder(WeightShapes& s, const std::string& name, int64_t in, int64_t hidden) {
  add_linear(s, name + ".in_layer", hidden, in);
  add_linear(s, name + ".out_layer", hidden, hidden);
}

}  // namespace

WeightShapes flux_weight_shapes(const FluxConfig& c) {
  validate_flux_config(c);
  const int64_t H = c.hidden_size, D = c.head_dim(), M = c.mlp_hidden();
  WeightShapes s;
  add_linear(s, "img_in", H, c.in_channels);
  add_mlp_embedder(s, "time_in", 256, H);
  add_mlp_embedder(s, "vector_in", c.vec_in_dim, H);
  if (c.guidance_embed) add_mlp_embedder(s, "guidance_in", 256, H);
  add_linear(s, "txt_in", H, c.context_in_dim);
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string b = "double_blocks." + std::to_string(i) + ".";
    for (const char* stream : {"img", "txt"}) {
      const std::string p = b + stream;
      add_linear(s, p + "_mod.lin", 6 * H, H);
      add_linear(s, p + "_attn.qkv", 3 * H, H, c.qkv_bias);
      s.push_back({p + "_attn.norm.query_norm.scale", {D}});
      s.push_back({p + "_attn.norm.key_norm.scale", {D}});
      add_linear(s, p + "_attn.proj", H, H);
      add_linear(s, p + "_mlp.0", M, H);
      add_linear(s, p + "_mlp.2", H, M);
    }
  }
  for (int64_t i = 0; i < c.depth_single_blocks; ++i) {
    const std::string b = "single_blocks." + std::to_string(i) + ".";
    add_linear(s, b + "linear1", 3 * H + M, H);
    add_linear(s, b + "linear2", H, H + M);
    s.push_back({b + "norm.query_norm.scale", {D}});
    s.push_back({b + "norm.key_norm.scale", {D}});
    add_linear(s, b + "modulation.lin", 3 * H, H);
  }
  add_linear(s, "final_layer.linear", c.out_channels, H);
  add_linear(s, "final_layer.adaLN_modulation.1", 2 * H, H);
  return s;
}

int64_t flux_parameter_count(const FluxConfig& c) {
  int64_t n = 0;
  for (const auto& [name, shape] : flux_weight_shapes(c)) {
    int64_t e = 1;
    for (int64_t d : shape) e *= d;
    n += e;
  }
  return n;
}

}  // namespace genplug::flux
