// LoRAs on the tiny golden FLUX transformer: the three key formats map onto the BFL weights, the merge is the
// reference formula W + scale * alpha / rank * B A (checked against a float64 merge done here), a LoRA converted
// between layouts gives the same forward, and the base weights are never touched (docs/lora.md).
#define BOOST_TEST_MODULE lora
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <tuple>

#include <ATen/CPUGeneratorImpl.h>

#include <genplug/flux/lora.hpp>
#include <genplug/flux/lora_keys.hpp>
#include <genplug/flux/lora_metadata.hpp>
#include <genplug/flux/q8_0_tensors.hpp>
#include <genplug/flux/transformer.hpp>
#include <genplug/flux/weights.hpp>
#include <genplug/safetensors.hpp>

#include "../flux/flux_golden_case.hpp"
#include "temp_dir.hpp"

namespace gf = genplug::flux;
namespace st = genplug::safetensors;
using genplug::test::relative_error;

namespace {

// One low-rank update in BFL terms: target module (no ".weight"), factors and alpha.
struct Update {
  std::string module;
  torch::Tensor down, up;  // [rank, in], [out, rank], float32
  double alpha;
};

st::TensorData tensor(const std::string& name, const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kFloat32).contiguous();
  return st::TensorData::from_floats(name, c.sizes().vec(), std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel()));
}

std::string underscored(std::string s) {
  for (char& c : s) c = c == '.' ? '_' : c;
  return s;
}

// The diffusers modules a BFL module splits into, with the rows of each (q, k, v: hidden rows; mlp: the rest).
std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> diffusers_parts(const std::string& module, int64_t out,
                                                                                 int64_t hidden) {
  auto block = [&](const std::string& kind) { return module.substr(kind.size(), module.find('.', kind.size()) - kind.size()); };
  if (module.rfind("double_blocks.", 0) == 0 && module.find("img_attn.qkv") != std::string::npos) {
    const std::string b = "transformer_blocks." + block("double_blocks.") + ".attn.to_";
    return {{b + "q", {0, hidden}}, {b + "k", {hidden, hidden}}, {b + "v", {2 * hidden, hidden}}};
  }
  if (module.rfind("single_blocks.", 0) == 0 && module.find("linear1") != std::string::npos) {
    const std::string b = "single_transformer_blocks." + block("single_blocks.");
    return {{b + ".attn.to_q", {0, hidden}}, {b + ".attn.to_k", {hidden, hidden}}, {b + ".attn.to_v", {2 * hidden, hidden}},
            {b + ".proj_mlp", {3 * hidden, out - 3 * hidden}}};
  }
  if (module == "final_layer.adaLN_modulation.1") return {{"norm_out.linear", {0, out}}};
  if (module == "txt_in") return {{"context_embedder", {0, out}}};
  const std::string b = "transformer_blocks." + block("double_blocks.");
  return {{b + ".ff_context.net.2", {0, out}}};  // double_blocks.N.txt_mlp.2
}

// The updates as a LoRA file in one format. diffusers/PEFT files carry no alpha tensor: B is pre-scaled by
// alpha/rank, or (metadata_alpha) alpha is written in the header as diffusers >= 0.34 does.
void write_lora(const std::filesystem::path& path, const std::vector<Update>& updates, gf::LoraFormat format,
                int64_t hidden, bool extras = false, bool metadata_alpha = false) {
  std::vector<st::TensorData> out;
  for (const Update& u : updates) {
    const torch::Tensor alpha = torch::full({}, u.alpha, torch::kFloat32);
    if (format == gf::LoraFormat::bfl) {
      const std::string m = "diffusion_model." + u.module;
      out.push_back(tensor(m + ".lora_A.weight", u.down));
      out.push_back(tensor(m + ".lora_B.weight", u.up));
      out.push_back(tensor(m + ".alpha", alpha));
    } else if (format == gf::LoraFormat::kohya) {
      const std::string m = "lora_unet_" + underscored(u.module);
      out.push_back(tensor(m + ".lora_down.weight", u.down));
      out.push_back(tensor(m + ".lora_up.weight", u.up));
      out.push_back(tensor(m + ".alpha", alpha));
    } else {
      const torch::Tensor up = metadata_alpha ? u.up : u.up * (u.alpha / double(u.down.size(0)));
      for (const auto& [name, rows] : diffusers_parts(u.module, u.up.size(0), hidden)) {
        torch::Tensor part = up.slice(0, rows.first, rows.first + rows.second);
        if (name == "norm_out.linear") part = torch::cat({part.slice(0, part.size(0) / 2), part.slice(0, 0, part.size(0) / 2)});
        out.push_back(tensor("transformer." + name + ".lora_A.weight", u.down));
        out.push_back(tensor("transformer." + name + ".lora_B.weight", part));
      }
    }
  }
  if (extras) {
    out.push_back(tensor("lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", torch::zeros({2, 3})));
    out.push_back(tensor("something_else.weight", torch::zeros({1})));
  }
  std::map<std::string, std::string> metadata;
  if (metadata_alpha)
    metadata["lora_adapter_metadata"] =
        nlohmann::json{{"transformer.r", updates.at(0).down.size(0)}, {"transformer.lora_alpha", updates.at(0).alpha}}.dump();
  st::write_file(path, out, metadata);
}

struct Fixture : genplug::test::FluxGoldenCase {
  gf::TensorMap base = genplug::test::golden_tensor_map(*genplug::test::golden_file("flux/flux_tiny_bfl.safetensors"));
  genplug::test::TempDir dir{"lora"};
  std::vector<Update> updates;
  double scale = 0.8;

  Fixture() {
    torch::manual_seed(7);
    // Attention, the last single block's linear1, the final layer, the text input and a double block's MLP, of
    // the stacks the set has (updates[0]: genplug::test::flux_first_attention_module).
    std::vector<std::string> modules = {genplug::test::flux_first_attention_module(config.depth)};
    const std::string last_linear1 = "single_blocks." + std::to_string(config.depth_single_blocks - 1) + ".linear1";
    if (config.depth_single_blocks > 0 && last_linear1 != modules[0]) modules.push_back(last_linear1);
    modules.insert(modules.end(), {"final_layer.adaLN_modulation.1", "txt_in"});
    if (config.depth > 0) modules.push_back("double_blocks.0.txt_mlp.2");
    for (const std::string& m : modules) {
      const torch::Tensor& w = base.at(m + ".weight");
      const int64_t rank = 4;
      updates.push_back({m, 0.2 * torch::randn({rank, w.size(1)}), 0.2 * torch::randn({w.size(0), rank}), 2.0});
    }
  }

  // The first update whose weight is rows of whole Q8_0 blocks (its columns a multiple of 32); none in a set whose
  // widths are not (hidden 48: only the MLP's output takes 4 x 48 = 192 columns).
  const Update* q8_0_update() const {
    for (const Update& u : updates)
      if (base.at(u.module + ".weight").size(1) % gf::kQ8BlockValues == 0) return &u;
    return nullptr;
  }

  // The merge computed here in float64: W + scale * alpha / rank * B A, rounded to float32 once.
  gf::TensorMap reference() const {
    gf::TensorMap ref = base;
    for (const Update& u : updates) {
      const std::string name = u.module + ".weight";
      const torch::Tensor delta = torch::matmul(u.up.to(torch::kFloat64), u.down.to(torch::kFloat64)) *
                                  (scale * u.alpha / double(u.down.size(0)));
      ref[name] = (base.at(name).to(torch::kFloat64) + delta).to(torch::kFloat32);
    }
    return ref;
  }

  torch::Tensor forward(const gf::TensorMap& weights) const {
    const gf::FluxTransformer model(weights, config);
    return model.forward(io_tensor("img"), io_tensor("txt"), io_tensor("timesteps"), io_tensor("y"), guidance(),
                         gf::rotary_tables(ids(), plain()));
  }

  // How far float32 forwards on merges may lie apart, relative, when each merged weight lies within kMergeRoundoffs
  // units of float32's roundoff 2^-24 of its tensor's largest value (4 to 8 ulps of it) from the float64 merge: what
  // the weight checks hold the merge to. Two float32
  // forwards of one code on weights m and r differ by [f32(m) - f64(m)] - [f32(r) - f64(r)] + [f64(m) - f64(r)]: two
  // rounding errors of scale e (r's measured against the same forward in float64, on the same float32 tables), and
  // what the weights' difference does, measured in float64 as the change that perturbations of that size and random
  // signs (the probabilistic model of rounding, rounding_bound.hpp) on every merged weight make: s. Each scale is
  // one realisation, so taken twice: 2 (2 e + s) from forward(ref), 2 (2 e + 2 s) between two merges.
  static constexpr double kMergeRoundoffs = 8;
  struct MergedForwardBound {
    double e, s;
    double from_reference() const { return 2 * (2 * e + s); }
    double between_merges() const { return 2 * (2 * e + 2 * s); }
  };
  MergedForwardBound merged_forward_bound(const gf::TensorMap& ref, const torch::Tensor& ref_out) const {
    const double t = io_tensor("timesteps").item<double>();
    const gf::RotaryTables tables = gf::rotary_tables(ids(), plain());
    const auto exact = [&](const gf::TensorMap& w) {
      return exact_forward(gf::FluxTransformer(w, config, torch::kFloat64), io_tensor("img"), t, tables);
    };
    const torch::Tensor ref64 = exact(ref);
    gf::TensorMap perturbed = ref;
    at::Generator signs = at::detail::createCPUGenerator(11);
    for (const Update& u : updates) {
      const torch::Tensor w = ref.at(u.module + ".weight").to(torch::kFloat64);
      const double step = kMergeRoundoffs * 0x1p-24 * w.abs().max().item<double>();
      perturbed[u.module + ".weight"] = w + step * (2 * torch::randint(2, w.sizes(), signs, torch::kFloat64) - 1);
    }
    const MergedForwardBound b{std::max(relative_error(ref_out, ref64), 0x1p-24),
                               relative_error(exact(perturbed), ref64)};
    BOOST_TEST_MESSAGE("merged forward bounds 2 (2 e + s) = " << b.from_reference() << ", between merges "
                       << b.between_merges() << ": e " << b.e << ", s " << b.s);
    BOOST_TEST_REQUIRE((std::isfinite(b.e) && std::isfinite(b.s)));  // a failed float64 run gives no bound
    return b;
  }

  std::filesystem::path file(gf::LoraFormat format, bool extras = false) const {
    const auto path = dir.path / (std::string(gf::lora_format_name(format)) + ".safetensors");
    write_lora(path, updates, format, config.hidden_size, extras);
    return path;
  }
};

const gf::LoraFormat kFormats[] = {gf::LoraFormat::bfl, gf::LoraFormat::kohya, gf::LoraFormat::diffusers};

}  // namespace

BOOST_AUTO_TEST_CASE(names_map_onto_bfl_weights_in_every_format) {
  const std::vector<std::string> names = {
      "transformer.transformer_blocks.3.attn.to_k.lora_A.weight", "transformer.transformer_blocks.3.attn.to_k.lora_B.weight",
      "transformer.single_transformer_blocks.1.proj_mlp.lora_A.weight",
      "transformer.single_transformer_blocks.1.proj_mlp.lora_B.weight",
      "transformer.norm_out.linear.lora_A.weight", "transformer.norm_out.linear.lora_B.weight",
      "lora_unet_double_blocks_2_txt_mod_lin.lora_down.weight", "lora_unet_double_blocks_2_txt_mod_lin.lora_up.weight",
      "lora_unet_double_blocks_2_txt_mod_lin.alpha", "lora_unet_single_blocks_0_modulation_lin.lora_down.weight",
      "lora_unet_single_blocks_0_modulation_lin.lora_up.weight",
      "diffusion_model.single_blocks.5.linear2.lora_down.weight", "diffusion_model.single_blocks.5.linear2.lora_up.weight",
      "model.diffusion_model.final_layer.linear.lora_A.weight", "model.diffusion_model.final_layer.linear.lora_B.weight",
      "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", "text_encoder.layers.0.q.lora_A.weight",
      "lora_unet_double_blocks_2_img_nonsense.lora_up.weight", "model.something.weight"};
  const gf::LoraPlan plan = gf::plan_lora(names, "l.safetensors");
  std::map<std::string, const gf::LoraModule*> by_module;
  for (const auto& m : plan.modules) by_module[m.module] = &m;
  BOOST_REQUIRE_EQUAL(plan.modules.size(), 7u);
  const auto* k = by_module.at("transformer.transformer_blocks.3.attn.to_k");
  BOOST_TEST(k->target == "double_blocks.3.img_attn.qkv.weight");
  BOOST_TEST(k->part == 1);
  BOOST_TEST((k->format == gf::LoraFormat::diffusers));
  BOOST_TEST(by_module.at("transformer.single_transformer_blocks.1.proj_mlp")->target == "single_blocks.1.linear1.weight");
  BOOST_TEST(by_module.at("transformer.single_transformer_blocks.1.proj_mlp")->part == 3);
  BOOST_TEST(by_module.at("transformer.norm_out.linear")->swap_halves);
  const auto* mod = by_module.at("lora_unet_double_blocks_2_txt_mod_lin");
  BOOST_TEST(mod->target == "double_blocks.2.txt_mod.lin.weight");
  BOOST_TEST(mod->alpha == "lora_unet_double_blocks_2_txt_mod_lin.alpha");
  BOOST_TEST((mod->format == gf::LoraFormat::kohya));
  BOOST_TEST(by_module.at("lora_unet_single_blocks_0_modulation_lin")->target == "single_blocks.0.modulation.lin.weight");
  BOOST_TEST(by_module.at("diffusion_model.single_blocks.5.linear2")->target == "single_blocks.5.linear2.weight");
  BOOST_TEST((by_module.at("model.diffusion_model.final_layer.linear")->format == gf::LoraFormat::bfl));
  BOOST_TEST(plan.text_encoder.size() == 2u);
  BOOST_TEST(plan.unknown == (std::vector<std::string>{"lora_unet_double_blocks_2_img_nonsense.lora_up.weight",
                                                        "model.something.weight"}),
             boost::test_tools::per_element());
  // A module with only one of its matrices is an error naming it.
  try {
    gf::plan_lora({"transformer.x_embedder.lora_B.weight"}, "half.safetensors");
    BOOST_FAIL("accepted");
  } catch (const gf::WeightError& e) {
    BOOST_TEST(std::string(e.what()).find("half.safetensors: LoRA module 'transformer.x_embedder'") != std::string::npos, e.what());
  }
}

BOOST_FIXTURE_TEST_CASE(every_format_merges_as_the_reference_formula, Fixture) {
  const gf::TensorMap ref = reference();
  const torch::Tensor ref_out = forward(ref), base_out = forward(base);
  const double effect = relative_error(ref_out, base_out);
  BOOST_TEST((std::isfinite(effect) && effect > 1e-3));  // the LoRA changes the forward measurably
  const MergedForwardBound bound = merged_forward_bound(ref, ref_out);
  std::vector<torch::Tensor> outs;
  for (gf::LoraFormat format : kFormats) {
    BOOST_TEST_CONTEXT(gf::lora_format_name(format)) {
      const gf::LoraMerge merged = gf::merge_loras(base, {{file(format, format == gf::LoraFormat::kohya), scale}});
      BOOST_TEST(merged.changed.size() == updates.size());
      // Each weight: float32 sum of the float32 delta, rounded once: within a few roundoffs of the float64 merge.
      for (const Update& u : updates) {
        const std::string name = u.module + ".weight";
        BOOST_TEST(relative_error(merged.weights.at(name), ref.at(name)) <= kMergeRoundoffs * 0x1p-24, name);
      }
      // Every other weight is the base tensor itself (zero-copy stays), and the base is untouched.
      for (const auto& [name, t] : base) {
        const bool changed = std::find(merged.changed.begin(), merged.changed.end(), name) != merged.changed.end();
        BOOST_TEST((merged.weights.at(name).data_ptr() == t.data_ptr()) == !changed, name);
      }
      outs.push_back(forward(merged.weights));
      const double err = relative_error(outs.back(), ref_out);
      BOOST_TEST_MESSAGE("forward with the merged LoRA vs the float64 merge: relative error " << err);
      BOOST_TEST(err <= bound.from_reference());
      if (format == gf::LoraFormat::kohya) {
        BOOST_REQUIRE_EQUAL(merged.notes.size(), 1u);
        BOOST_TEST(merged.notes[0].find("1 text-encoder tensors ignored") != std::string::npos, merged.notes[0]);
        BOOST_TEST(merged.notes[0].find("'something_else.weight'") != std::string::npos, merged.notes[0]);
      }
    }
  }
  // The same LoRA in another layout (fused qkv vs split q/k/v, swapped halves) gives the same forward.
  BOOST_TEST(relative_error(outs[1], outs[0]) <= bound.between_merges());
  BOOST_TEST(relative_error(outs[2], outs[0]) <= bound.between_merges());
  BOOST_TEST(torch::equal(forward(base), base_out));  // the base weights are as they were
}

// The merge calls back before each module's product it adds, and a callback that throws (the plugin's cancel
// check) stops it there: a host's SIGINT had waited for the whole list.
BOOST_FIXTURE_TEST_CASE(a_merge_asks_between_products_and_stops_when_told, Fixture) {
  const auto lora = file(gf::LoraFormat::diffusers, false);
  size_t asked = 0;
  const gf::LoraMerge merged = gf::merge_loras(base, {{lora, scale}}, [&] { ++asked; });
  BOOST_TEST(asked >= merged.changed.size());  // a fused weight (qkv) takes a product per module
  const size_t once = asked;
  asked = 0;
  const auto copy = dir.path / "copy.safetensors";  // a second file: one listed twice is merged once
  std::filesystem::copy_file(lora, copy);
  gf::merge_loras(base, {{lora, scale}, {copy, scale}}, [&] { ++asked; });
  BOOST_TEST(asked == 2 * once);
  BOOST_TEST_REQUIRE(asked >= 2u);
  struct Stop {};
  asked = 0;
  BOOST_CHECK_THROW(gf::merge_loras(base, {{lora, scale}}, [&] {
                      if (++asked == 2) throw Stop{};
                    }),
                    Stop);
  BOOST_TEST(asked == 2u);
}

// diffusers (>= 0.34) writes alpha into the header's PEFT metadata instead of .alpha tensors.
BOOST_FIXTURE_TEST_CASE(alpha_from_diffusers_metadata, Fixture) {
  const auto path = dir.path / "meta.safetensors";
  write_lora(path, updates, gf::LoraFormat::diffusers, config.hidden_size, false, /*metadata_alpha=*/true);
  const gf::LoraMerge merged = gf::merge_loras(base, {{path, scale}});
  const gf::TensorMap ref = reference();
  for (const Update& u : updates)
    BOOST_TEST(relative_error(merged.weights.at(u.module + ".weight"), ref.at(u.module + ".weight")) <= kMergeRoundoffs * 0x1p-24, u.module);
}

// bf16 weights: the float32 sum W + deltas is rounded to bf16 once.
BOOST_FIXTURE_TEST_CASE(bf16_weights_are_rounded_once, Fixture) {
  gf::TensorMap bf16;
  for (const auto& [name, t] : base) bf16[name] = t.to(torch::kBFloat16);
  const gf::LoraMerge merged = gf::merge_loras(bf16, {{file(gf::LoraFormat::bfl), scale}});
  for (const Update& u : updates) {
    const std::string name = u.module + ".weight";
    const torch::Tensor w = bf16.at(name).to(torch::kFloat64), up = u.up.to(torch::kFloat64);
    const torch::Tensor down = u.down.to(torch::kFloat64);
    const double a = scale * u.alpha / 4.0;
    const torch::Tensor sum = w + torch::matmul(up, down) * a;
    const torch::Tensor once = sum.to(torch::kBFloat16).to(torch::kFloat64);  // one rounding of the exact sum
    BOOST_TEST((merged.weights.at(name).scalar_type() == torch::kBFloat16));
    // The float32 merge x is within E = gamma_{r+3} (|W| + |a| |up| |down|) of the float64 sum s (a rank-r dot
    // product, the factor a rounded to float32, its product and the sum; u = 2^-24). Rounding x to bf16 moves it
    // by at most 2^-8 |x|, and `once` is 2^-8 |s| from s: |merged - once| <= 2^-8 (|x| + |s|) + E, one bf16 ulp
    // (2^-7) but where W + delta nearly cancels: there E, which scales with |W| and not with the small sum, is
    // the larger (a real set's txt_in.weight: W 0.011, sum 3.9e-8, float32 off by 4.4e-10).
    const double r = static_cast<double>(up.size(1)), gamma = (r + 3) * 0x1p-24 / (1 - (r + 3) * 0x1p-24);
    const torch::Tensor reach = gamma * (w.abs() + torch::matmul(up.abs(), down.abs()) * std::abs(a));
    const torch::Tensor got = merged.weights.at(name).to(torch::kFloat64);
    const torch::Tensor diff = (got - once).abs();
    const torch::Tensor bound = torch::max(got.abs(), once.abs()) * (0x1p-7 / (1 - 0x1p-8)) + reach;
    BOOST_TEST((diff <= bound).all().item<bool>(), name);
    BOOST_TEST(diff.gt(0).sum().item<int64_t>() <= once.numel() / 100, name << ": more than 1 % not rounded once");
  }
}

// Q8_0 weights (a GGUF checkpoint's, q8_0_layout.hpp): each changed weight is dequantised, merged in float32 and
// quantised again to Q8_0, so the model stays 8-bit. Each merged value is then within one Q8_0 rounding of the
// float64 merge of the dequantised base: half of its block's d = max|block| / 127, plus |q| <= 127 times d's f16
// rounding (2^-11 relative), plus the float32 merge's own error (far below: kMergeRoundoffs of the tensor's largest).
// Weights no LoRA touches keep the base's blocks.
BOOST_FIXTURE_TEST_CASE(q8_0_weights_are_quantised_again, Fixture) {
  gf::TensorMap q8;
  for (const auto& [name, t] : base) {
    if (t.dim() == 2 && t.size(1) % gf::kQ8BlockValues == 0)
      gf::put_q8_0(q8, name, gf::quantize_q8_0(t));
    else
      q8[name] = t;
  }
  const gf::LoraMerge merged = gf::merge_loras(q8, {{file(gf::LoraFormat::bfl), scale}});
  int checked = 0;
  for (const Update& u : updates) {
    const std::string name = u.module + ".weight";
    const std::optional<gf::Q8Blocks> before = gf::find_q8_0(q8, name), after = gf::find_q8_0(merged.weights, name);
    if (!before) continue;  // rows that are not whole blocks stay float32
    BOOST_TEST_REQUIRE(after.has_value(), name);
    BOOST_TEST((after->q.scalar_type() == torch::kInt8 && after->d.scalar_type() == torch::kFloat16), name);
    BOOST_TEST(after->d.sizes() == before->d.sizes(), name);
    const torch::Tensor ref = gf::dequantize_q8_0(*before).to(torch::kFloat64) +
                              torch::matmul(u.up.to(torch::kFloat64), u.down.to(torch::kFloat64)) * (scale * u.alpha / 4.0);
    const int64_t rows = ref.size(0), blocks = ref.size(1) / gf::kQ8BlockValues;
    const torch::Tensor block_max = ref.view({rows, blocks, gf::kQ8BlockValues}).abs().amax(-1, true);
    const torch::Tensor bound =
        block_max / 127.0 * (0.5 + 127.0 * 0x1p-11) + kMergeRoundoffs * 0x1p-24 * ref.abs().max().item<double>();
    const torch::Tensor err = (gf::dequantize_q8_0(*after).to(torch::kFloat64) - ref).abs().view({rows, blocks, -1});
    BOOST_TEST((err <= bound).all().item<bool>(), name << ": worst " << (err - bound).max().item<double>());
    BOOST_TEST(err.max().item<double>() > 0.0, name);  // really quantised
    ++checked;
  }
  BOOST_TEST_MESSAGE(checked << " of " << updates.size() << " LoRA targets are Q8_0 (rows of whole blocks)");
  // What check_loras counts a merge to copy: a Q8_0 target as Q8_0 (34 bytes a block of 32), the others in float32.
  const gf::LoraTargets targets = gf::lora_targets(q8);
  for (const Update& u : updates) {
    const std::string name = u.module + ".weight";
    BOOST_TEST(targets.stored_bytes.at(name) == (gf::find_q8_0(q8, name) ? 34.0 / 32 : 4.0), name);
  }
  for (const auto& [name, t] : q8)
    if (std::find(merged.changed.begin(), merged.changed.end(), name) == merged.changed.end() &&
        name.find(".q8_0_scale") == std::string::npos)
      BOOST_TEST(merged.weights.at(name).data_ptr() == t.data_ptr(), name);
}

BOOST_AUTO_TEST_CASE(more_key_forms_and_unsupported_adapters) {
  const gf::LoraPlan plan = gf::plan_lora(
      {"base_model.model.double_blocks.1.img_mod.lin.lora_A.weight", "base_model.model.double_blocks.1.img_mod.lin.lora_B.weight",
       "transformer.transformer_blocks.0.attn.to_q.lora_A.default.weight",
       "transformer.transformer_blocks.0.attn.to_q.lora_B.default.weight",
       "lora_transformer_single_transformer_blocks_2_proj_mlp.lora_down.weight",
       "lora_transformer_single_transformer_blocks_2_proj_mlp.lora_up.weight",
       "lora_transformer_norm_out_linear.lora_down.weight", "lora_transformer_norm_out_linear.lora_up.weight"},
      "more.safetensors");
  std::map<std::string, const gf::LoraModule*> by;
  for (const auto& m : plan.modules) by[m.module] = &m;
  BOOST_REQUIRE_EQUAL(plan.modules.size(), 4u);
  BOOST_TEST(by.at("base_model.model.double_blocks.1.img_mod.lin")->target == "double_blocks.1.img_mod.lin.weight");
  BOOST_TEST(by.at("transformer.transformer_blocks.0.attn.to_q")->target == "double_blocks.0.img_attn.qkv.weight");
  BOOST_TEST(by.at("lora_transformer_single_transformer_blocks_2_proj_mlp")->target == "single_blocks.2.linear1.weight");
  BOOST_TEST(by.at("lora_transformer_single_transformer_blocks_2_proj_mlp")->part == 3);
  BOOST_TEST(by.at("lora_transformer_norm_out_linear")->swap_halves);
  for (const char* name : {"lora_unet_img_in.dora_scale", "transformer.x_embedder.lora_magnitude_vector",
                           "lora_unet_double_blocks_0_img_attn_qkv.hada_w1_a", "lora_unet_img_in.lokr_w1"}) {
    try {
      gf::plan_lora({name}, "lyco.safetensors");
      BOOST_ERROR(name << " accepted");
    } catch (const gf::WeightError& e) {
      BOOST_TEST(std::string(e.what()).find(name) != std::string::npos, e.what());
      BOOST_TEST(std::string(e.what()).find("DoRA or LyCORIS") != std::string::npos, e.what());
    }
  }
}

BOOST_FIXTURE_TEST_CASE(several_loras_add_and_scale, Fixture) {
  const auto a = file(gf::LoraFormat::bfl), b = file(gf::LoraFormat::kohya);
  const gf::LoraMerge both = gf::merge_loras(base, {{a, 0.5}, {b, 0.3}});
  const gf::LoraMerge once = gf::merge_loras(base, {{a, 0.8}});
  for (const Update& u : updates) {
    const std::string name = u.module + ".weight";
    // Two merges, each within kMergeRoundoffs of the float64 one.
    BOOST_TEST(relative_error(both.weights.at(name), once.weights.at(name)) <= 2 * kMergeRoundoffs * 0x1p-24, name);
  }
  const gf::LoraMerge none = gf::merge_loras(base, {{a, 0.0}});
  for (const Update& u : updates) BOOST_TEST(torch::equal(none.weights.at(u.module + ".weight"), base.at(u.module + ".weight")));
}

BOOST_FIXTURE_TEST_CASE(loras_that_do_not_fit_are_named, Fixture) {
  // Rows one short for the qkv projection: the module, the target and both shapes are named.
  std::vector<Update> wrong = {updates[0]};
  wrong[0].up = wrong[0].up.slice(0, 1);
  const auto path = dir.path / "wrong.safetensors";
  write_lora(path, wrong, gf::LoraFormat::bfl, config.hidden_size);
  try {
    gf::merge_loras(base, {{path, 1.0}});
    BOOST_FAIL("accepted");
  } catch (const gf::WeightError& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("wrong.safetensors") != std::string::npos, m);
    BOOST_TEST(m.find("'diffusion_model." + updates[0].module + "'") != std::string::npos, m);
    BOOST_TEST(m.find(gf::shape_string(base.at(updates[0].module + ".weight").sizes().vec())) != std::string::npos, m);
    BOOST_TEST(m.find(gf::shape_string(wrong[0].up.sizes().vec())) != std::string::npos, m);
  }
  // A block the model does not have.
  std::vector<Update> deeper = {updates[0]};
  deeper[0].module = genplug::test::attention_module_past_the_end(config);
  write_lora(path, deeper, gf::LoraFormat::kohya, config.hidden_size);
  try {
    gf::merge_loras(base, {{path, 1.0}});
    BOOST_FAIL("accepted");
  } catch (const gf::WeightError& e) {
    BOOST_TEST(std::string(e.what()).find("which this model lacks") != std::string::npos, e.what());
  }
  // An alpha (or scale) whose factor no float32 holds, or a NaN alpha: named with its parts, before any merge.
  for (const auto& [alpha, job_scale, text] : {std::tuple{3e38, 100.0, "scale 100 x alpha 3e+38 / rank 4"},
                                                std::tuple{std::nan(""), 1.0, "x alpha nan / rank 4"}}) {
    std::vector<Update> huge = {updates[0]};
    huge[0].alpha = alpha;
    write_lora(path, huge, gf::LoraFormat::kohya, config.hidden_size);
    try {
      gf::merge_loras(base, {{path, job_scale}});
      BOOST_FAIL("accepted");
    } catch (const gf::WeightError& e) {
      BOOST_TEST(std::string(e.what()).find(text) != std::string::npos, e.what());
      BOOST_TEST(std::string(e.what()).find("is no finite float32 factor") != std::string::npos, e.what());
    }
  }
  // Finite factors whose product overflows float32 (1e30 x 1e30): the weight and the file are named.
  std::vector<Update> overflowing = {updates[0]};
  overflowing[0].up = torch::full_like(overflowing[0].up, 1e30);
  overflowing[0].down = torch::full_like(overflowing[0].down, 1e30);
  write_lora(path, overflowing, gf::LoraFormat::bfl, config.hidden_size);
  try {
    gf::merge_loras(base, {{path, 1.0}});
    BOOST_FAIL("accepted");
  } catch (const gf::WeightError& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("'" + updates[0].module + ".weight' overflows float32 with the LoRA deltas of ") == 0u, m);
    BOOST_TEST(m.find("wrong.safetensors") != std::string::npos, m);
  }
  // Within float32 but past float16's 65504 (1e3 x 1e3 x rank 4): caught where the weight is rounded back to f16.
  std::vector<Update> past_f16 = {updates[0]};
  past_f16[0].up = torch::full_like(past_f16[0].up, 1e3);
  past_f16[0].down = torch::full_like(past_f16[0].down, 1e3);
  write_lora(path, past_f16, gf::LoraFormat::bfl, config.hidden_size);
  gf::TensorMap f16 = base;
  for (auto& [name, t] : f16) t = t.to(torch::kFloat16);
  BOOST_CHECK_NO_THROW(gf::merge_loras(base, {{path, 1.0}}));  // float32 holds it
  try {
    gf::merge_loras(f16, {{path, 1.0}});
    BOOST_FAIL("accepted");
  } catch (const gf::WeightError& e) {
    BOOST_TEST(std::string(e.what()).find("'" + updates[0].module + ".weight' overflows float16 with") == 0u, e.what());
  }
  // An infinity in a factor is named with its tensor, as a NaN is (test_pipeline).
  std::vector<Update> infinite = {updates[0]};
  infinite[0].down = infinite[0].down.clone();
  infinite[0].down.view(-1)[5] = std::numeric_limits<float>::infinity();
  write_lora(path, infinite, gf::LoraFormat::bfl, config.hidden_size);
  try {
    gf::merge_loras(base, {{path, 1.0}});
    BOOST_FAIL("accepted");
  } catch (const gf::WeightError& e) {
    BOOST_TEST(std::string(e.what()).find("lora_A.weight' holds NaN or infinite values") != std::string::npos, e.what());
  }
}

// A merge into Q8_0 blocks whose values pass 65504 x 127: each block's scale d = max|x| / 127 is float16 (ggml),
// which overflowed to infinity, and every image was NaN, blamed on the model's forward (exit 5). Now the weight
// and the file are named, as for float16 weights; just under the bound it merges.
BOOST_FIXTURE_TEST_CASE(a_merge_past_q8_0s_float16_scale_is_named, Fixture) {
  const Update* target = q8_0_update();
  if (!target) {
    BOOST_TEST_MESSAGE("no LoRA target of whole Q8_0 blocks in this set");
    return;
  }
  gf::TensorMap q8 = base;
  const std::string name = target->module + ".weight";
  q8.erase(name);
  gf::put_q8_0(q8, name, gf::quantize_q8_0(base.at(name)));
  const auto path = dir.path / "big.safetensors";
  const double rank = 4, largest = 65504.0 * 127.0;
  for (const double merged : {1.01 * largest, 0.97 * largest}) {  // each delta value: rank x a x b = merged
    std::vector<Update> big = {*target};
    const double each = std::sqrt(merged / rank);
    big[0].up = torch::full_like(big[0].up, each);
    big[0].down = torch::full_like(big[0].down, each);
    big[0].alpha = rank;  // factor 1
    write_lora(path, big, gf::LoraFormat::bfl, config.hidden_size);
    if (merged < largest) {
      const gf::LoraMerge ok = gf::merge_loras(q8, {{path, 1.0}});
      BOOST_TEST(std::isfinite(gf::dequantize_q8_0(*gf::find_q8_0(ok.weights, name)).abs().max().item<double>()));
      continue;
    }
    try {
      gf::merge_loras(q8, {{path, 1.0}});
      BOOST_ERROR("a merge past Q8_0's scale was accepted");
    } catch (const gf::WeightError& e) {
      const std::string m = e.what();
      BOOST_TEST(m.find("'" + name + "' overflows Q8_0") == 0u, m);
      BOOST_TEST(m.find(path.string()) != std::string::npos, m);
    }
  }
}

// A Q8_0 block whose float16 scale is NaN or infinite (a damaged GGUF) is the transformer's fault, named as such:
// a small finite LoRA on that weight had been blamed for "overflowing Q8_0".
BOOST_FIXTURE_TEST_CASE(a_q8_0_block_scale_not_finite_is_the_transformers_fault, Fixture) {
  const Update* target = q8_0_update();
  if (!target) {
    BOOST_TEST_MESSAGE("no LoRA target of whole Q8_0 blocks in this set");
    return;
  }
  const std::string name = target->module + ".weight";
  const auto path = dir.path / "small.safetensors";
  write_lora(path, {*target}, gf::LoraFormat::bfl, config.hidden_size);
  for (const float scale : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    gf::TensorMap q8 = base;
    q8.erase(name);
    gf::Q8Blocks blocks = gf::quantize_q8_0(base.at(name));
    blocks.d.view(-1)[1] = scale;  // float16 holds both
    gf::put_q8_0(q8, name, blocks);
    try {
      gf::merge_loras(q8, {{path, 1.0}});
      BOOST_ERROR("a merge into a block scale of " << scale << " was accepted");
    } catch (const gf::WeightError& e) {
      const std::string m = e.what();
      BOOST_TEST(m.find("the transformer's '" + name + "' holds NaN or infinite values before any LoRA is added "
                        "(a GGUF block's scale)") == 0u,
                 m);
    }
  }
}

// Integer factors (I32, U8, ...) are no update a float weight takes: refused from the header, naming the tensor, by
// check_loras and the merge; libtorch's "self and mat2 must have the same dtype" had named no file. A BOOL alpha
// too.
BOOST_FIXTURE_TEST_CASE(integer_factors_are_refused_from_the_header, Fixture) {
  const auto path = dir.path / "ints.safetensors";
  const std::string m = "diffusion_model." + updates[0].module;
  auto ints = [](const std::string& name, std::vector<int64_t> shape, st::DType type, std::size_t bytes_each) {
    st::TensorData t;
    t.name = name;
    t.dtype = type;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    t.shape = std::move(shape);
    t.bytes.assign(std::size_t(n) * bytes_each, 1);
    return t;
  };
  const auto& down = updates[0].down;
  const auto& up = updates[0].up;
  for (const auto& [type, bytes, what] : {std::tuple{st::DType::I32, std::size_t(4), "is I32"},
                                          std::tuple{st::DType::U8, std::size_t(1), "is U8"}}) {
    st::write_file(path, {ints(m + ".lora_A.weight", down.sizes().vec(), type, bytes), tensor(m + ".lora_B.weight", up)});
    for (int merge = 0; merge < 2; ++merge) {
      try {
        if (merge)
          gf::merge_loras(base, {{path, 1.0}});
        else
          gf::check_loras(gf::lora_targets(base), {{path, 1.0}});
        BOOST_ERROR("integer factors were accepted");
      } catch (const gf::WeightError& e) {
        const std::string message = e.what();
        BOOST_TEST(message.find(path.string() + ": LoRA module '" + m + "': '" + m + ".lora_A.weight' " + what +
                                ", not a floating-point type") == 0u,
                   message);
      }
    }
  }
  st::write_file(path, {tensor(m + ".lora_A.weight", down), tensor(m + ".lora_B.weight", up),
                        ints(m + ".alpha", {}, st::DType::BOOL, 1)});
  BOOST_CHECK_EXCEPTION(gf::check_loras(gf::lora_targets(base), {{path, 1.0}}), gf::WeightError,
                        [](const gf::WeightError& e) { return std::string(e.what()).find("is BOOL") != std::string::npos; });
}

// alpha_pattern keys name a module by its last dot-separated parts, as PEFT's (.*\.)?(key)$: "0.attn.to_q" is block
// 0's, not block 10's (a plain suffix had given block 10 block 0's alpha).
BOOST_AUTO_TEST_CASE(alpha_pattern_keys_name_whole_parts) {
  genplug::test::TempDir dir("lora-pattern");
  const auto path = dir.path / "pattern.safetensors";
  st::write_file(path, {st::TensorData::from_floats("x", {1}, {0.0f})},
                 {{"lora_adapter_metadata",
                   R"({"transformer.lora_alpha": 4, "transformer.alpha_pattern": {"0.attn.to_q": 2}})"}});
  const st::Checkpoint file(path);
  BOOST_TEST(gf::metadata_alpha(file, "transformer.transformer_blocks.0.attn.to_q").value() == 2.0);
  BOOST_TEST(gf::metadata_alpha(file, "0.attn.to_q").value() == 2.0);
  BOOST_TEST(gf::metadata_alpha(file, "transformer.transformer_blocks.10.attn.to_q").value() == 4.0);
  BOOST_TEST(gf::metadata_alpha(file, "transformer.transformer_blocks.0.attn.to_q_x").value() == 4.0);
}

// check_loras (what a host asks before any job renders) refuses what merge_loras refuses from the headers, with the
// same message, and reads no factor's values: a NaN factor passes it and fails the merge. Of a LoRA that fits, it
// counts what the merge copies: each target once, whichever files and modules change it.
BOOST_FIXTURE_TEST_CASE(check_loras_refuses_from_the_headers_what_the_merge_refuses, Fixture) {
  const gf::LoraTargets shapes = gf::lora_targets(base);
  BOOST_TEST(shapes.shapes.size() == base.size());
  for (const auto& [name, bytes] : shapes.stored_bytes) BOOST_TEST(bytes == 4.0, name);  // float32 weights
  const auto a = file(gf::LoraFormat::bfl), b = file(gf::LoraFormat::diffusers);
  const gf::LoraCheck check = gf::check_loras(shapes, {{a, 0.5}, {b, 0.3}});
  double values = 0, largest = 0, factors = 0;
  std::vector<std::string> targets;
  for (const Update& u : updates) {
    targets.push_back(u.module + ".weight");
    const double n = double(base.at(u.module + ".weight").numel());
    values += n * 4;
    largest = std::max(largest, n);
    factors = std::max(factors, double(u.down.numel() + u.up.numel()));  // a diffusers part has fewer rows
  }
  std::sort(targets.begin(), targets.end());
  BOOST_TEST(check.targets == targets, boost::test_tools::per_element());
  BOOST_TEST(check.target_bytes == values);
  BOOST_TEST(check.largest_target == largest);
  BOOST_TEST(check.largest_factors == factors);
  BOOST_TEST(check.notes.empty());
  const gf::LoraMerge merged = gf::merge_loras(base, {{a, 0.5}, {b, 0.3}});
  BOOST_TEST(merged.changed == targets, boost::test_tools::per_element());

  auto refusal = [&](const std::filesystem::path& path, bool check_only) {
    try {
      if (check_only) gf::check_loras(shapes, {{path, 1.0}});
      else gf::merge_loras(base, {{path, 1.0}});
    } catch (const gf::WeightError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  std::vector<Update> wrong = {updates[0]};
  wrong[0].up = wrong[0].up.slice(0, 1);
  const auto path = dir.path / "wrong.safetensors";
  write_lora(path, wrong, gf::LoraFormat::bfl, config.hidden_size);
  BOOST_TEST(refusal(path, true).find("does not fit") != std::string::npos, refusal(path, true));
  BOOST_TEST(refusal(path, true) == refusal(path, false));
  std::vector<Update> nan = {updates[0]};
  nan[0].down = nan[0].down.clone();
  nan[0].down.view(-1)[2] = std::nanf("");
  write_lora(path, nan, gf::LoraFormat::bfl, config.hidden_size);
  BOOST_TEST(refusal(path, true) == "accepted");
  BOOST_TEST(refusal(path, false).find("holds NaN or infinite values") != std::string::npos, refusal(path, false));
}

// One file that changes the same rows twice (one module under kohya and BFL names) gets both deltas, as other
// tools apply such a file, and a note that says so; q of diffusers beside BFL's whole qkv overlap too, while
// diffusers' q, k and v (other rows of one weight) do not.
BOOST_FIXTURE_TEST_CASE(modules_that_change_the_same_rows_are_added_and_said, Fixture) {
  const Update& u = updates[0];  // the first block's attention
  std::vector<st::TensorData> both;
  for (const std::string& m : {"diffusion_model." + u.module, "lora_unet_" + underscored(u.module)}) {
    const bool kohya = m.rfind("lora_unet_", 0) == 0;
    both.push_back(tensor(m + (kohya ? ".lora_down.weight" : ".lora_A.weight"), u.down));
    both.push_back(tensor(m + (kohya ? ".lora_up.weight" : ".lora_B.weight"), u.up));
    both.push_back(tensor(m + ".alpha", torch::full({}, u.alpha, torch::kFloat32)));
  }
  const auto twice = dir.path / "twice.safetensors";
  st::write_file(twice, both);
  const gf::LoraMerge merged = gf::merge_loras(base, {{twice, 1.0}});
  const gf::LoraMerge doubled = gf::merge_loras(base, {{file(gf::LoraFormat::bfl), 2.0}});
  const std::string name = u.module + ".weight";
  BOOST_TEST(relative_error(merged.weights.at(name), doubled.weights.at(name)) <= 2 * kMergeRoundoffs * 0x1p-24);
  BOOST_REQUIRE_EQUAL(merged.notes.size(), 1u);
  BOOST_TEST(merged.notes[0] == twice.string() + ": modules 'diffusion_model." + u.module + "' and 'lora_unet_" +
                                    underscored(u.module) + "' both change '" + name + "': both are added");
  const gf::LoraPlan split = gf::plan_lora({"transformer.transformer_blocks.0.attn.to_q.lora_A.weight",
                                            "transformer.transformer_blocks.0.attn.to_q.lora_B.weight",
                                            "transformer.transformer_blocks.0.attn.to_k.lora_A.weight",
                                            "transformer.transformer_blocks.0.attn.to_k.lora_B.weight"},
                                           "split.safetensors");
  BOOST_TEST(gf::lora_overlaps(split).empty());
  gf::LoraPlan with_whole = split;
  with_whole.modules.push_back(gf::plan_lora({"diffusion_model.double_blocks.0.img_attn.qkv.lora_A.weight",
                                              "diffusion_model.double_blocks.0.img_attn.qkv.lora_B.weight"},
                                             "whole.safetensors").modules.at(0));
  BOOST_TEST(gf::lora_overlaps(with_whole).size() == 2u);
}

// A file listed more than once, under any spelling, is read once and merged once at the sum of its scales, with a
// note that says so: the same weights, bit for bit, as the file listed once at that sum.
BOOST_FIXTURE_TEST_CASE(a_file_listed_twice_is_merged_once_at_its_scales_sum, Fixture) {
  const auto path = file(gf::LoraFormat::kohya);
  const auto link = dir.path / "link.safetensors";
  std::filesystem::create_symlink(path.filename(), link);
  const auto hard = dir.path / "hard.safetensors";
  std::filesystem::create_hard_link(path, hard);
  const std::vector<gf::LoraFile> listed = {
      {path, 0.5}, {dir.path / "." / path.filename(), 0.125}, {link, 0.125}, {hard, 0.25}};
  const gf::LoraMerge merged = gf::merge_loras(base, listed);
  const gf::LoraMerge once = gf::merge_loras(base, {{path, 1.0}});
  BOOST_TEST(merged.files == 1u);
  BOOST_TEST(merged.changed == once.changed);
  for (const std::string& name : once.changed) BOOST_TEST(torch::equal(merged.weights.at(name), once.weights.at(name)));
  const std::string note = path.string() + ": listed 4 times (also as " + (dir.path / "." / path.filename()).string() +
                           ", " + link.string() + ", " + hard.string() +
                           "), merged once at scale 0.5 + 0.125 + 0.125 + 0.25 = 1";
  BOOST_TEST(merged.notes == std::vector<std::string>{note});
  const gf::LoraCheck check = gf::check_loras(gf::lora_targets(base), listed);
  BOOST_TEST(check.notes == std::vector<std::string>{note});
  BOOST_TEST(check.targets == gf::check_loras(gf::lora_targets(base), {{path, 1.0}}).targets);
  // Scales that cancel, or 0: checked, nothing copied; every weight is the base's own tensor.
  for (const std::vector<gf::LoraFile>& off : {std::vector<gf::LoraFile>{{path, 0.0}}, {{path, 1.0}, {link, -1.0}}}) {
    const gf::LoraMerge none = gf::merge_loras(base, off);
    BOOST_TEST(none.files == 1u);
    BOOST_TEST(none.changed.empty());
    for (const auto& [name, t] : base) BOOST_TEST(none.weights.at(name).data_ptr() == t.data_ptr(), name);
    BOOST_TEST(gf::check_loras(gf::lora_targets(base), off).target_bytes == 0.0);
  }
  // One index file linked into two folders reads each folder's shards: two LoRAs, not one listed twice.
  const auto index_in = [&](const std::string& folder, const std::vector<Update>& lora) {
    const auto d = dir.path / folder;
    std::filesystem::create_directory(d);
    write_lora(d / "s1.safetensors", lora, gf::LoraFormat::bfl, config.hidden_size);
    nlohmann::json map;
    const st::Checkpoint shard(d / "s1.safetensors");
    for (const auto& t : shard.tensors()) map[t.name] = "s1.safetensors";
    return std::pair{d, nlohmann::json{{"weight_map", map}}.dump()};
  };
  std::vector<Update> other = updates;
  for (Update& u : other) u.up = -2 * u.up;
  const auto [d1, map1] = index_in("d1", updates);
  const auto [d2, map2] = index_in("d2", other);
  BOOST_REQUIRE(map1 == map2);  // same names: one index serves both folders
  std::ofstream(d1 / "x.safetensors.index.json") << map1;
  std::filesystem::create_hard_link(d1 / "x.safetensors.index.json", d2 / "x.safetensors.index.json");
  const gf::LoraMerge both =
      gf::merge_loras(base, {{d1 / "x.safetensors.index.json", 1.0}, {d2 / "x.safetensors.index.json", 1.0}});
  const gf::LoraMerge apart = gf::merge_loras(base, {{d1 / "s1.safetensors", 1.0}, {d2 / "s1.safetensors", 1.0}});
  BOOST_TEST(both.files == 2u);
  BOOST_TEST(both.notes.empty());
  for (const std::string& name : apart.changed) BOOST_TEST(torch::equal(both.weights.at(name), apart.weights.at(name)));
}

// Two PEFT adapters of one module in one file ("lora_A.default" and "lora_A.other"), or lora_A beside lora_down:
// refused, naming both tensors (the last in name order had silently replaced the first).
BOOST_AUTO_TEST_CASE(two_tensors_of_one_role_are_refused) {
  for (const auto& [first, second] :
       {std::pair<std::string, std::string>{"transformer.transformer_blocks.0.attn.to_q.lora_A.default.weight",
                                            "transformer.transformer_blocks.0.attn.to_q.lora_A.other.weight"},
        {"diffusion_model.double_blocks.0.img_attn.qkv.lora_A.weight",
         "diffusion_model.double_blocks.0.img_attn.qkv.lora_down.weight"}}) {
    try {
      gf::plan_lora({first, second}, "two.safetensors");
      BOOST_ERROR("accepted: " << first << ", " << second);
    } catch (const gf::WeightError& e) {
      const std::string m = e.what();
      BOOST_TEST(m.find("two.safetensors: LoRA module '") != std::string::npos, m);
      BOOST_TEST(m.find("has two tensors of one role, '" + first + "' and '" + second + "'") != std::string::npos, m);
    }
  }
}

// A diffusers PEFT config that cannot say alpha (not JSON, a lora_alpha that is no number, a key given twice,
// whose last value had been taken silently): alpha = rank, as without one, and a note that says so.
BOOST_FIXTURE_TEST_CASE(an_unreadable_peft_config_is_said, Fixture) {
  const std::vector<Update> one = {updates[0]};
  const auto plain = dir.path / "plain.safetensors";
  write_lora(plain, one, gf::LoraFormat::diffusers, config.hidden_size, false, true);
  for (const auto& [meta, text] : {std::pair<std::string, std::string>{"{not json", "is no readable JSON object"},
                                   {R"({"transformer.lora_alpha": "8"})", "has a lora_alpha that is no number"},
                                   {R"({"transformer.lora_alpha": 1, "transformer.lora_alpha": 2})",
                                    "gives the key \"transformer.lora_alpha\" twice"}}) {
    const auto path = dir.path / "meta.safetensors";
    std::vector<st::TensorData> tensors;
    const st::Checkpoint source(plain);
    for (const auto& t : source.tensors())
      tensors.push_back(tensor(t.name, gf::load_tensor(t, torch::kFloat32, torch::kCPU)));
    st::write_file(path, tensors, {{"lora_adapter_metadata", meta}});
    const gf::LoraCheck check = gf::check_loras(gf::lora_targets(base), {{path, 1.0}});
    BOOST_REQUIRE_EQUAL(check.notes.size(), 1u);
    BOOST_TEST(check.notes[0] == path.string() + ": its lora_adapter_metadata " + text +
                                     ": modules without .alpha tensors take alpha = rank");
    // alpha = rank: the factor is the scale, 1.
    const gf::LoraMerge merged = gf::merge_loras(base, {{path, 1.0}});
    const std::string name = one[0].module + ".weight";
    const auto wide = [](const torch::Tensor& x) { return x.to(torch::kFloat64); };
    const torch::Tensor expected = wide(base.at(name)) + torch::matmul(wide(one[0].up), wide(one[0].down));
    BOOST_TEST(relative_error(merged.weights.at(name), expected) <= kMergeRoundoffs * 0x1p-24);
  }
  BOOST_TEST(gf::check_loras(gf::lora_targets(base), {{plain, 1.0}}).notes.empty());
  // An alpha_pattern value that is no number is passed over, with a note: the module takes lora_alpha.
  for (const auto& [pattern, text] :
       {std::pair<std::string, std::string>{R"({"x.to_q": "16", "y": [1], "z": 2})",
                                            "gives the alpha_pattern key \"x.to_q\" and 1 more no number"},
        {R"("16")", "has an alpha_pattern that is no object"}}) {
    const auto path = dir.path / "pattern.safetensors";
    std::vector<st::TensorData> tensors;
    const st::Checkpoint source(plain);
    for (const auto& t : source.tensors())
      tensors.push_back(tensor(t.name, gf::load_tensor(t, torch::kFloat32, torch::kCPU)));
    const std::string meta = R"({"transformer.lora_alpha": 2, "transformer.alpha_pattern": )" + pattern + "}";
    st::write_file(path, tensors, {{"lora_adapter_metadata", meta}});
    const gf::LoraCheck check = gf::check_loras(gf::lora_targets(base), {{path, 1.0}});
    BOOST_REQUIRE_EQUAL(check.notes.size(), 1u);
    BOOST_TEST(check.notes[0] == path.string() + ": its lora_adapter_metadata " + text +
                                     ": the modules it names take lora_alpha unless they have .alpha tensors");
  }
}
