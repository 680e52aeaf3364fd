#define BOOST_TEST_MODULE flux_transformer_keys
#include <boost/test/unit_test.hpp>

#include <genplug/flux/checkpoint_layout.hpp>
#include <genplug/flux/transformer_keys.hpp>
#include <genplug/safetensors.hpp>

#include "flux_params.hpp"
#include "golden.hpp"

namespace st = genplug::safetensors;
namespace gf = genplug::flux;

namespace {

gf::ShapeMap golden_shapes(const std::string& file) {
  return gf::shapes_of(st::Checkpoint(genplug::test::golden("flux/" + file)));
}

std::vector<std::string> names_of(const gf::ShapeMap& shapes) {
  std::vector<std::string> names;
  for (const auto& [n, s] : shapes) names.push_back(n);
  return names;
}

gf::ShapeMap with_prefix(const gf::ShapeMap& shapes, const std::string& prefix) {
  gf::ShapeMap out;
  for (const auto& [n, s] : shapes) out.emplace(prefix + n, s);
  return out;
}

gf::FluxConfig golden_config() { return genplug::test::golden_flux_config(); }

// The last double and single block of the golden config (tensor names depend on the depths).
std::string last_double() { return std::to_string(golden_config().depth - 1); }
std::string last_single() { return std::to_string(golden_config().depth_single_blocks - 1); }

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string t = "[";
  for (size_t i = 0; i < shape.size(); ++i) t += (i ? ", " : "") + std::to_string(shape[i]);
  return t + "]";
}

// The shape with its last dimension one short (a tensor of the wrong width).
std::vector<int64_t> narrower(std::vector<int64_t> shape) {
  shape.back() -= 1;
  return shape;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const gf::WeightError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

void check_same_config(const gf::FluxConfig& a, const gf::FluxConfig& b) {
  BOOST_TEST(a.in_channels == b.in_channels);
  BOOST_TEST(a.out_channels == b.out_channels);
  BOOST_TEST(a.vec_in_dim == b.vec_in_dim);
  BOOST_TEST(a.context_in_dim == b.context_in_dim);
  BOOST_TEST(a.hidden_size == b.hidden_size);
  BOOST_TEST(a.num_heads == b.num_heads);
  BOOST_TEST(a.depth == b.depth);
  BOOST_TEST(a.depth_single_blocks == b.depth_single_blocks);
  BOOST_TEST(a.mlp_ratio == b.mlp_ratio);
  BOOST_TEST(a.qkv_bias == b.qkv_bias);
  BOOST_TEST(a.guidance_embed == b.guidance_embed);
}

}  // namespace

BOOST_AUTO_TEST_CASE(detects_both_layouts_with_and_without_prefix) {
  const auto bfl = golden_shapes("flux_tiny_bfl.safetensors");
  const auto diffusers = golden_shapes("flux_tiny_diffusers.safetensors");
  auto keys = gf::detect_transformer_layout(names_of(bfl), "bfl");
  BOOST_TEST((keys.layout == gf::TransformerLayout::bfl));
  BOOST_TEST(keys.prefix == "");
  keys = gf::detect_transformer_layout(names_of(diffusers), "diffusers");
  BOOST_TEST((keys.layout == gf::TransformerLayout::diffusers));
  // ComfyUI single file: transformer under model.diffusion_model., plus a VAE under first_stage_model.
  auto comfy = with_prefix(bfl, "model.diffusion_model.");
  for (const auto& [n, s] : gf::shapes_of(st::Checkpoint(genplug::test::golden("vae/vae_tiny_bfl.safetensors"))))
    comfy.emplace("first_stage_model." + n, s);
  keys = gf::detect_transformer_layout(names_of(comfy), "comfy");
  BOOST_TEST((keys.layout == gf::TransformerLayout::bfl));
  BOOST_TEST(keys.prefix == "model.diffusion_model.");
  const auto components = gf::detect_components(names_of(comfy));
  BOOST_REQUIRE_EQUAL(components.size(), 2u);
  BOOST_TEST((components[0].kind == gf::ModelKind::flux_transformer));
  BOOST_TEST(components[0].tensors == bfl.size());
  BOOST_TEST((components[1].kind == gf::ModelKind::autoencoder));
  BOOST_TEST(components[1].prefix == "first_stage_model.");
  BOOST_TEST(components[1].tensors == comfy.size() - bfl.size());
}

BOOST_AUTO_TEST_CASE(vae_files_are_recognised_and_are_not_transformers) {
  for (const char* file : {"vae_tiny_bfl.safetensors", "vae_tiny_diffusers.safetensors"}) {
    const auto shapes = gf::shapes_of(st::Checkpoint(genplug::test::golden(std::string("vae/") + file)));
    const auto components = gf::detect_components(names_of(shapes));
    BOOST_REQUIRE_EQUAL(components.size(), 1u);
    BOOST_TEST((components[0].kind == gf::ModelKind::autoencoder));
    BOOST_TEST(components[0].tensors == shapes.size());
    BOOST_TEST(std::string(gf::layout_name(components[0].layout)) ==
               (std::string(file).find("diffusers") != std::string::npos ? "diffusers" : "bfl"));
    const auto m = error_of([&] { gf::detect_transformer_layout(names_of(shapes), file); });
    BOOST_TEST(contains(m, file));
    BOOST_TEST(contains(m, "not a FLUX transformer"));
  }
}

BOOST_AUTO_TEST_CASE(diffusers_shapes_map_exactly_onto_bfl_shapes) {
  const auto bfl = golden_shapes("flux_tiny_bfl.safetensors");
  const auto diffusers = golden_shapes("flux_tiny_diffusers.safetensors");
  const auto mapped = gf::bfl_transformer_shapes(diffusers, "diffusers");
  BOOST_TEST(mapped.size() == bfl.size());
  for (const auto& [name, shape] : bfl) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_REQUIRE(mapped.count(name));
      BOOST_TEST(mapped.at(name) == shape, boost::test_tools::per_element());
    }
  }
  // Prefixed BFL maps to itself; prefixed diffusers too.
  BOOST_TEST((gf::bfl_transformer_shapes(with_prefix(bfl, "model.diffusion_model."), "p") == bfl));
  BOOST_TEST((gf::bfl_transformer_shapes(with_prefix(diffusers, "transformer."), "p") == bfl));
}

BOOST_AUTO_TEST_CASE(plan_merges_and_swaps_where_flux_md_says) {
  const auto diffusers = golden_shapes("flux_tiny_diffusers.safetensors");
  const auto plan = gf::transformer_key_plan(names_of(diffusers), {gf::TransformerLayout::diffusers, ""}, "d");
  std::map<std::string, gf::KeyMerge> by_target;
  for (const auto& m : plan) by_target.emplace(m.target, m);
  const auto config = golden_config();  // a set may lack one of the two stacks
  if (config.depth > 0) {
    const std::string d = last_double();
    const auto& qkv = by_target.at("double_blocks." + d + ".txt_attn.qkv.weight");
    BOOST_TEST((qkv.op == gf::KeyMerge::Op::concat));
    BOOST_TEST(qkv.sources == (std::vector<std::string>{"transformer_blocks." + d + ".attn.add_q_proj.weight",
                                                        "transformer_blocks." + d + ".attn.add_k_proj.weight",
                                                        "transformer_blocks." + d + ".attn.add_v_proj.weight"}),
               boost::test_tools::per_element());
    BOOST_TEST(by_target.at("double_blocks.0.txt_attn.norm.key_norm.scale").sources.at(0) ==
               "transformer_blocks.0.attn.norm_added_k.weight");
  }
  if (config.depth_single_blocks > 0) {
    const auto& linear1 = by_target.at("single_blocks.0.linear1.bias");
    BOOST_TEST(linear1.sources == (std::vector<std::string>{"single_transformer_blocks.0.attn.to_q.bias",
                                                            "single_transformer_blocks.0.attn.to_k.bias",
                                                            "single_transformer_blocks.0.attn.to_v.bias",
                                                            "single_transformer_blocks.0.proj_mlp.bias"}),
               boost::test_tools::per_element());
  }
  const auto& final_mod = by_target.at("final_layer.adaLN_modulation.1.weight");
  BOOST_TEST((final_mod.op == gf::KeyMerge::Op::swap_halves));
  BOOST_TEST(final_mod.sources.at(0) == "norm_out.linear.weight");
  BOOST_TEST(by_target.at("time_in.out_layer.bias").sources.at(0) == "time_text_embed.timestep_embedder.linear_2.bias");
}

BOOST_AUTO_TEST_CASE(inferred_config_matches_the_golden_params) {
  const auto expected = golden_config();
  for (const char* file : {"flux_tiny_bfl.safetensors", "flux_tiny_diffusers.safetensors"}) {
    BOOST_TEST_CONTEXT(file) {
      const auto inferred = gf::infer_flux_config(gf::bfl_transformer_shapes(golden_shapes(file), file), file);
      check_same_config(inferred, expected);
      // Head dim 16 is not FLUX.1's 128: the rotary axes cannot be read from weights.
      BOOST_TEST(inferred.axes_dim.empty() == (inferred.head_dim() != 128));
      BOOST_CHECK_NO_THROW(gf::check_flux_config(expected, inferred, file));
    }
  }
}

BOOST_AUTO_TEST_CASE(expected_shapes_are_exactly_the_golden_tensors) {
  const auto bfl = golden_shapes("flux_tiny_bfl.safetensors");
  BOOST_TEST((gf::expected_flux_shapes(golden_config()) == bfl));
  BOOST_TEST(gf::check_flux_shapes(bfl, golden_config(), "bfl").empty());
}

BOOST_AUTO_TEST_CASE(full_size_configs_have_the_documented_tensor_and_parameter_counts) {
  // flux.md §0: flux-dev 780 tensors / 11,901,408,320 params; schnell 776 / 11,891,178,560.
  auto count = [](const gf::ShapeMap& shapes) {
    int64_t params = 0;
    for (const auto& [n, s] : shapes) {
      int64_t k = 1;
      for (int64_t d : s) k *= d;
      params += k;
    }
    return params;
  };
  const auto dev = gf::expected_flux_shapes(gf::FluxConfig::dev());
  const auto schnell = gf::expected_flux_shapes(gf::FluxConfig::schnell());
  BOOST_TEST(dev.size() == 780u);
  BOOST_TEST(count(dev) == 11901408320LL);
  BOOST_TEST(schnell.size() == 776u);
  BOOST_TEST(count(schnell) == 11891178560LL);
  BOOST_TEST((dev.at("single_blocks.0.linear1.weight") == std::vector<int64_t>{21504, 3072}));
  BOOST_TEST((dev.at("final_layer.adaLN_modulation.1.weight") == std::vector<int64_t>{6144, 3072}));
  // And inference recovers the configs from those shapes (axes included: head dim 128).
  const auto inferred = gf::infer_flux_config(dev, "dev");
  check_same_config(inferred, gf::FluxConfig::dev());
  BOOST_TEST(inferred.axes_dim == (std::vector<int64_t>{16, 56, 56}), boost::test_tools::per_element());
  BOOST_TEST(!gf::infer_flux_config(schnell, "schnell").guidance_embed);
}

BOOST_AUTO_TEST_CASE(config_mismatch_names_the_field) {
  const auto inferred = gf::infer_flux_config(golden_shapes("flux_tiny_bfl.safetensors"), "ckpt.safetensors");
  auto wrong = golden_config();
  wrong.hidden_size *= 2;
  auto m = error_of([&] { gf::check_flux_config(wrong, inferred, "ckpt.safetensors"); });
  BOOST_TEST(contains(m, "ckpt.safetensors"));
  BOOST_TEST(contains(m, "'hidden_size'"));
  wrong = golden_config();
  wrong.guidance_embed = !wrong.guidance_embed;
  BOOST_TEST(contains(error_of([&] { gf::check_flux_config(wrong, inferred, "c"); }), "'guidance_embed'"));
  wrong = golden_config();
  wrong.depth_single_blocks += 1;
  BOOST_TEST(contains(error_of([&] { gf::check_flux_config(wrong, inferred, "c"); }), "'depth_single_blocks'"));
  wrong = golden_config();
  wrong.axes_dim.front() += 2;
  BOOST_TEST(contains(error_of([&] { gf::check_flux_config(wrong, inferred, "c"); }), "'axes_dim'"));
  // The full dev preset against the tiny checkpoint.
  BOOST_TEST(!error_of([&] { gf::check_flux_config(gf::FluxConfig::dev(), inferred, "c"); }).empty());
  // Each message names what the checkpoint's value was read from: the first double block's tensors, or the first
  // single block's in a checkpoint without double blocks.
  for (const int64_t depth : {int64_t(0), int64_t(2)}) {
    auto found = inferred;
    found.depth = depth;
    wrong = found;
    wrong.num_heads += 1;
    const std::string block = depth > 0 ? "double_blocks.0.img_attn" : "single_blocks.0";
    m = error_of([&] { gf::check_flux_config(wrong, found, "c"); });
    BOOST_TEST(contains(m, "'num_heads' is " + std::to_string(wrong.num_heads) + " but the checkpoint's tensors say " +
                               std::to_string(found.num_heads) + " (hidden size over tensor '" + block +
                               ".norm.query_norm.scale')"), m);
    wrong = found;
    wrong.mlp_ratio *= 2;
    m = error_of([&] { gf::check_flux_config(wrong, found, "c"); });
    BOOST_TEST(contains(m, depth > 0 ? "(tensor 'double_blocks.0.img_mlp.0.weight')"
                                     : "(tensor 'single_blocks.0.linear1.weight' less 3 x hidden size)"), m);
  }
}

// The MLP width inferred from a checkpoint is the width its tensors have, whatever the width: mlp / hidden as a
// double times hidden can fall a hair short of it (hidden 60, width 245; thousands of pairs below hidden 200), and
// BFL's int() then dropped a column, so that a checkpoint of such a width was refused by the shapes inferred from it.
BOOST_AUTO_TEST_CASE(every_mlp_width_is_inferred_back) {
  gf::FluxConfig c = golden_config();
  int checked = 0;
  for (const int64_t hidden : {int64_t(11), int64_t(60), int64_t(3072)}) {
    c.hidden_size = hidden;
    c.num_heads = 1;
    for (int64_t width = 1; width <= 5 * hidden; width += hidden > 100 ? 97 : 1) {
      c.mlp_ratio = (static_cast<double>(width) + 0.5) / static_cast<double>(hidden);  // int(hidden x ratio) = width
      BOOST_REQUIRE_EQUAL(c.mlp_hidden(), width);
      const gf::ShapeMap shapes = gf::expected_flux_shapes(c);
      const gf::FluxConfig found = gf::infer_flux_config(shapes, "c");
      BOOST_TEST(found.mlp_hidden() == width, "hidden " << hidden << ", width " << width);
      BOOST_TEST((gf::expected_flux_shapes(found) == shapes), "hidden " << hidden << ", width " << width);
      ++checked;
    }
  }
  BOOST_TEST(checked >= 5 * (11 + 60));  // every width of the two small ones
}

BOOST_AUTO_TEST_CASE(missing_and_misshapen_tensors_are_named) {
  const auto config = golden_config();
  auto shapes = golden_shapes("flux_tiny_bfl.safetensors");
  const std::string missing = config.depth_single_blocks > 0 ? "single_blocks." + last_single() + ".linear2.bias"
                                                             : "double_blocks." + last_double() + ".txt_mlp.2.bias";
  shapes.erase(missing);
  auto m = error_of([&] { gf::check_flux_shapes(shapes, config, "ckpt.safetensors"); });
  BOOST_TEST(contains(m, "ckpt.safetensors"));
  BOOST_TEST(contains(m, "missing tensor '" + missing + "'"), m);

  shapes = golden_shapes("flux_tiny_bfl.safetensors");
  const std::string mlp = config.depth > 0 ? "double_blocks.0.img_mlp.2.weight" : "single_blocks.0.linear2.weight";
  const std::vector<int64_t> right = shapes.at(mlp);
  shapes[mlp] = narrower(right);
  m = error_of([&] { gf::check_flux_shapes(shapes, config, "ckpt.safetensors"); });
  BOOST_TEST(contains(m, "'" + mlp + "' has shape " + shape_text(narrower(right)) + ", expected " + shape_text(right)), m);

  shapes = golden_shapes("flux_tiny_bfl.safetensors");
  const std::string scale = genplug::test::flux_first_attention_module(config.depth) + ".weight_scale";
  shapes[scale] = {};
  const auto ignored = gf::check_flux_shapes(shapes, config, "c");
  BOOST_TEST(ignored == std::vector<std::string>{scale}, boost::test_tools::per_element());

  shapes = golden_shapes("flux_tiny_bfl.safetensors");
  shapes.erase("img_in.weight");
  BOOST_TEST(contains(error_of([&] { gf::infer_flux_config(shapes, "c"); }), "missing tensor 'img_in.weight'"));
}

BOOST_AUTO_TEST_CASE(missing_diffusers_part_and_block_gaps_are_named) {
  const auto config = golden_config();  // a set may lack one of the two stacks
  std::string m;
  if (config.depth > 0) {
    auto diffusers = golden_shapes("flux_tiny_diffusers.safetensors");
    const std::string add_k = "transformer_blocks." + last_double() + ".attn.add_k_proj.weight";
    diffusers.erase(add_k);
    m = error_of([&] { gf::bfl_transformer_shapes(diffusers, "d.safetensors"); });
    BOOST_TEST(contains(m, "missing tensor '" + add_k + "'"), m);
  }
  if (config.depth_single_blocks > 0) {
    auto diffusers = golden_shapes("flux_tiny_diffusers.safetensors");
    diffusers.erase("single_transformer_blocks.0.proj_mlp.bias");
    m = error_of([&] { gf::bfl_transformer_shapes(diffusers, "d.safetensors"); });
    BOOST_TEST(contains(m, "missing tensor 'single_transformer_blocks.0.proj_mlp.bias'"), m);
  }
  auto diffusers = golden_shapes("flux_tiny_diffusers.safetensors");
  const std::string to_v =
      config.depth > 0 ? "transformer_blocks.0.attn.to_v.weight" : "single_transformer_blocks.0.attn.to_v.weight";
  diffusers[to_v] = narrower(diffusers.at(to_v));
  m = error_of([&] { gf::bfl_transformer_shapes(diffusers, "d.safetensors"); });
  BOOST_TEST(contains(m, "'" + to_v + "' has shape " + shape_text(diffusers.at(to_v))), m);

  // A gap: block 0 gone while a later block remains. Block 0 moves past the stack's last block, so any depth of
  // one or more makes the gap.
  const std::string stack = config.depth > 0 ? "double_blocks." : "single_blocks.";
  const std::string past_end = std::to_string(config.depth > 0 ? config.depth : config.depth_single_blocks) + ".";
  auto bfl = golden_shapes("flux_tiny_bfl.safetensors");
  for (auto it = bfl.begin(); it != bfl.end();) {
    if (it->first.rfind(stack + "0.", 0) != 0) {
      ++it;
      continue;
    }
    bfl[stack + past_end + it->first.substr(stack.size() + 2)] = it->second;
    it = bfl.erase(it);
  }
  m = error_of([&] { gf::infer_flux_config(bfl, "b.safetensors"); });
  BOOST_TEST(contains(m, "'" + stack + "0'"), m);
}

BOOST_AUTO_TEST_CASE(sd_cpp_norm_weight_alias_is_accepted) {
  gf::ShapeMap shapes;
  for (const auto& [n, s] : golden_shapes("flux_tiny_bfl.safetensors")) {
    std::string name = n;
    const auto pos = name.find("query_norm.scale");
    if (pos != std::string::npos) name.replace(pos, 16, "query_norm.weight");
    shapes.emplace(name, s);
  }
  BOOST_TEST((gf::bfl_transformer_shapes(shapes, "alias") == golden_shapes("flux_tiny_bfl.safetensors")));
}

BOOST_AUTO_TEST_CASE(zero_sized_dimensions_are_named_not_divided_by) {
  // An empty tensor is valid in the file format; inferring a model from it must fail by name, not SIGFPE.
  for (const char* tensor : {"img_in.weight", "final_layer.linear.weight", "txt_in.weight"}) {
    auto shapes = golden_shapes("flux_tiny_bfl.safetensors");
    shapes[tensor][0] = 0;
    if (std::string(tensor) == "txt_in.weight") shapes[tensor] = {shapes[tensor][0] + 1, 0};
    const auto m = error_of([&] { gf::infer_flux_config(shapes, "empty.safetensors"); });
    BOOST_TEST(m.find("empty.safetensors") != std::string::npos, m);
    BOOST_TEST(m.find(tensor) != std::string::npos, m);
    BOOST_TEST(m.find("zero-sized") != std::string::npos, m);
  }
}
