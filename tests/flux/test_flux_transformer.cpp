// The FLUX transformer against the official BFL code on the tiny golden config (tests/golden/flux):
// rotary tables, one forward with plain RoPE and with the DyPE spectrum, and 4-step Euler sampling.
// GENPLUG_TEST_DEVICE=cuda (bench/gpu/run.sh) runs the golden forwards on that device instead of the CPU.
#define BOOST_TEST_MODULE flux_transformer
#include <boost/test/unit_test.hpp>

#include <cstdlib>

#include <genplug/flux/latent_packing.hpp>
#include <genplug/flux/transformer.hpp>
#include <genplug/flux/weights.hpp>
#include <genplug/plugin.hpp>

#include "flux_golden_case.hpp"
#include "rounding_bound.hpp"

using namespace genplug;
using genplug::test::relative_error;

namespace {

// Where the golden forwards run: GENPLUG_TEST_DEVICE (cpu, cuda, cuda:N), default cpu. Float32 on every device
// (libtorch leaves TF32 matmuls off by default), so the same analysis holds; outputs come back to the CPU.
torch::Device golden_device() {
  const char* env = std::getenv("GENPLUG_TEST_DEVICE");
  return flux::parse_device(env && *env ? env : "cpu");
}

struct Fixture : test::FluxGoldenCase {
  std::shared_ptr<const safetensors::File> bfl = test::golden_file("flux/flux_tiny_bfl.safetensors");
  flux::FluxTransformer model{test::golden_tensor_map(*bfl), config, torch::kFloat32, golden_device()};

  flux::FluxTransformer model64 = exact_model();

  torch::Tensor forward(const torch::Tensor& img, double t, const flux::RotarySpectrum& spectrum) const {
    flux::RotaryTables pe = flux::rotary_tables(ids(), spectrum, model.device());
    return model.forward(img, io_tensor("txt"), torch::full({1}, t, torch::kFloat32), io_tensor("y"), guidance(), pe).cpu();
  }
  test::RoundingBound bound(const torch::Tensor& out, const flux::RotarySpectrum& spectrum,
                            const std::string& reference) const {
    return golden_forward_bound(model64, out, spectrum, reference);
  }
};

// cos/sin from BFL's [..., L, D/2, 2, 2] rotation matrices [[cos, -sin], [sin, cos]].
torch::Tensor bfl_cos(const torch::Tensor& pe) { return pe.reshape({-1, pe.size(-3), 2, 2}).select(-1, 0).select(-1, 0); }
torch::Tensor bfl_sin(const torch::Tensor& pe) { return pe.reshape({-1, pe.size(-3), 2, 2}).select(-1, 0).select(-1, 1); }

}  // namespace

BOOST_FIXTURE_TEST_SUITE(golden, Fixture)

BOOST_AUTO_TEST_CASE(position_ids_match_bfl_prepare) {
  torch::Tensor expected = torch::cat({io_tensor("txt_ids")[0], io_tensor("img_ids")[0]}, 0).to(torch::kFloat64);
  BOOST_TEST(torch::equal(ids(), expected));
}

// BFL builds the table in float32 (reference notes, flux.md): omega = 1 / theta^(2k/d) and angle = pos omega are
// each rounded, about 3 unit roundoffs u = 2^-24 of the angle, and its cos/sin carry about 2u more; ours rounds a
// float64 table once (u). So |ours - BFL| <= 3u |angle| + 3u, with |angle| <= the largest position (omega <= 1):
// 4u (1 + that) leaves a margin, and grows with the set's token grid as the float32 error does.
BOOST_AUTO_TEST_CASE(plain_tables_match_bfl_pe_embedder) {
  flux::RotaryTables t = flux::rotary_tables(ids(), plain());
  torch::Tensor pe = io_tensor("pe_plain");
  BOOST_TEST_REQUIRE(t.cos.sizes() == bfl_cos(pe).sizes());
  const double bound = 4 * 0x1p-24 * (1 + ids().abs().max().item<double>());
  const double cos_err = (t.cos - bfl_cos(pe)).abs().max().item<double>();
  const double sin_err = (t.sin - bfl_sin(pe)).abs().max().item<double>();
  BOOST_TEST_MESSAGE("plain tables: max |diff| cos " << cos_err << ", sin " << sin_err << " (bound " << bound << ")");
  BOOST_TEST(cos_err <= bound);
  BOOST_TEST(sin_err <= bound);
}

// The official DyPE code takes our steps (reference notes, dype.md): angles and cos/sin in float64, rounded to
// float32, times mscale in float32. Two float64 cosines (its library's, ours) may round to neighbouring floats, so
// the tables agree within one float32 ulp of their largest value: 2^-23 x the largest amplitude.
BOOST_AUTO_TEST_CASE(dype_tables_match_official_dype) {
  flux::RotaryTables t = flux::rotary_tables(ids(), dype());
  const std::vector<double> amplitude = dype().amplitude;
  const double bound = 0x1p-23 * std::max(1.0, *std::max_element(amplitude.begin(), amplitude.end()));
  // dype.cos/sin repeat each pair's value twice (features 2k, 2k+1).
  torch::Tensor c = io_tensor("dype.cos").slice(1, 0, c10::nullopt, 2);
  torch::Tensor s = io_tensor("dype.sin").slice(1, 0, c10::nullopt, 2);
  BOOST_TEST_MESSAGE("dype table max abs diff cos " << (t.cos - c).abs().max().item<double>() << " sin "
                     << (t.sin - s).abs().max().item<double>() << " (bound " << bound << ")");
  BOOST_TEST((t.cos - c).abs().max().item<double>() <= bound);
  BOOST_TEST((t.sin - s).abs().max().item<double>() <= bound);
  // The DyPE pe in BFL layout says the same.
  BOOST_TEST((t.cos - bfl_cos(io_tensor("dype.pe"))).abs().max().item<double>() <= bound);
}

BOOST_AUTO_TEST_CASE(forward_plain_rope_matches_bfl) {
  torch::Tensor out = forward(io_tensor("img"), io_tensor("timesteps").item<double>(), plain());
  BOOST_TEST_REQUIRE(out.sizes() == io_tensor("out").sizes());
  const test::RoundingBound b = bound(out, plain(), "out");
  BOOST_TEST_MESSAGE("forward (BFL weights, plain RoPE, on " << model.device() << "): " << b);
  BOOST_TEST(b.holds(), b);
}

// between_blocks runs after every block, double and single, on the calling thread, and what it throws ends the
// forward (the plugin's cancellation between blocks).
BOOST_AUTO_TEST_CASE(between_blocks_runs_after_each_block_and_can_end_the_forward) {
  const flux::RotaryTables pe = flux::rotary_tables(ids(), plain(), model.device());
  const torch::Tensor t = torch::full({1}, io_tensor("timesteps").item<double>(), torch::kFloat32);
  int64_t calls = 0;
  const torch::Tensor out = model.forward(io_tensor("img"), io_tensor("txt"), t, io_tensor("y"), guidance(), pe,
                                          [&] { ++calls; });
  BOOST_TEST(calls == config.depth + config.depth_single_blocks);
  BOOST_TEST(torch::equal(out.cpu(), forward(io_tensor("img"), io_tensor("timesteps").item<double>(), plain())));
  struct Stop {};
  calls = 0;
  BOOST_CHECK_THROW(model.forward(io_tensor("img"), io_tensor("txt"), t, io_tensor("y"), guidance(), pe,
                                  [&] {
                                    if (++calls == 1) throw Stop{};
                                  }),
                    Stop);
  BOOST_TEST(calls == 1);
}

// The blocks' per-token work over runs of tokens (memory at large sizes): runs of 3 tokens, ragged in both streams
// of any golden set, give the same forward.
BOOST_AUTO_TEST_CASE(forward_in_runs_of_tokens_matches_bfl) {
  model.set_token_run(3);
  torch::Tensor out = forward(io_tensor("img"), io_tensor("timesteps").item<double>(), plain());
  const test::RoundingBound b = bound(out, plain(), "out");
  BOOST_TEST_MESSAGE("forward in runs of 3 tokens: " << b);
  BOOST_TEST(b.holds(), b);
}

BOOST_AUTO_TEST_CASE(diffusers_weights_give_the_same_forward) {
  const safetensors::Checkpoint ckpt(test::golden("flux/flux_tiny_diffusers.safetensors"));
  flux::TensorMap bfl_names = flux::diffusers_to_bfl_transformer(flux::load_tensors(ckpt, torch::kFloat32, torch::kCPU));
  flux::FluxTransformer from_diffusers(bfl_names, config, torch::kFloat32, model.device());
  flux::RotaryTables pe = flux::rotary_tables(ids(), plain(), model.device());
  torch::Tensor out =
      from_diffusers.forward(io_tensor("img"), io_tensor("txt"), io_tensor("timesteps"), io_tensor("y"), guidance(), pe).cpu();
  const test::RoundingBound b = bound(out, plain(), "out");
  BOOST_TEST_MESSAGE("forward (diffusers weights via diffusers_to_bfl_transformer): " << b);
  BOOST_TEST(b.holds(), b);
}

BOOST_AUTO_TEST_CASE(forward_dype_spectrum_matches_official_dype) {
  torch::Tensor out = forward(io_tensor("img"), io_tensor("timesteps").item<double>(), dype());
  const test::RoundingBound b = bound(out, dype(), "dype.out");
  BOOST_TEST_MESSAGE("forward (DyPE spectrum): " << b);
  BOOST_TEST(b.holds(), b);
  // The bound tells DyPE from plain RoPE (and so shows that the spectrum reached the model) where the set's own
  // two outputs lie more than 2x the bound apart; how far they are is said, not asserted: it is the set's.
  const double apart = relative_error(io_tensor("dype.out"), io_tensor("out"));
  BOOST_TEST_MESSAGE("this set's DyPE and plain outputs differ by " << apart << " (the bound: " << b.bound() << ")");
}

// BFL denoise(): img += (t_prev - t_curr) * model(img, t_curr), sigmas from the golden file.
BOOST_AUTO_TEST_CASE(euler_sampling_matches_bfl_denoise) {
  auto sample = test::golden_file("flux/flux_tiny_sample.safetensors");
  std::vector<double> sigmas = safetensors::to_float64(sample->at("sigmas"));
  const nlohmann::json& dype_steps = info.at("sampling").at("dype_steps");
  BOOST_TEST_REQUIRE(dype_steps.size() + 1 == sigmas.size());
  for (bool use_dype : {false, true}) {
    torch::Tensor img = test::golden_tensor(*sample, "noise");
    // Exact trajectories beside ours: on our float32 embedding (e), on the exact embedding, and with plain RoPE on
    // BFL's float32 tables (the reference's inputs, rounding_bound.hpp).
    std::vector<torch::Tensor> exact(use_dype ? 2 : 3, img.to(torch::kFloat64));
    const auto inputs = [&](const std::vector<torch::Tensor>& x) {
      return 2 * test::relative_error(x[1], x[0]) + (use_dype ? 0.0 : test::relative_error(x[2], x[0]));
    };
    const std::string prefix = use_dype ? "dype." : "";
    for (size_t i = 0; i + 1 < sigmas.size(); ++i) {
      flux::RotarySpectrum spectrum = use_dype ? test::spectrum_from_json(dype_steps[i], config.axes_dim) : plain();
      const torch::Tensor pred = forward(img, sigmas[i], spectrum);
      std::vector<torch::Tensor> pred64 = {exact_forward(model64, exact[0], sigmas[i], spectrum),
                                           exact_forward(model64, exact[1], sigmas[i], spectrum, Embedding::exact)};
      if (!use_dype) pred64.push_back(exact_forward(model64, exact[2], sigmas[i], bfl_plain_tables()));
      const std::string step = prefix + "step" + std::to_string(i) + ".pred";
      const test::RoundingBound b = test::rounding_bound(pred, pred64[0], test::golden_tensor(*sample, step),
                                                         longest_reduction(), inputs(pred64));
      BOOST_TEST(b.holds(), step << ": " << b);
      img = img + (sigmas[i + 1] - sigmas[i]) * pred;
      for (size_t k = 0; k < exact.size(); ++k) exact[k] = exact[k] + (sigmas[i + 1] - sigmas[i]) * pred64[k];
    }
    const test::RoundingBound b = test::rounding_bound(img, exact[0], test::golden_tensor(*sample, prefix + "final"),
                                                       longest_reduction(), inputs(exact));
    BOOST_TEST_MESSAGE(prefix << "final: " << b);
    BOOST_TEST(b.holds(), b);
  }
}

BOOST_AUTO_TEST_CASE(packing_matches_bfl_prepare_and_unpack) {
  torch::Tensor unpacked = io_tensor("img_latent_unpacked"), packed = io_tensor("img");
  BOOST_TEST(torch::equal(flux::pack_latent(unpacked), packed));
  BOOST_TEST(torch::equal(flux::unpack_latent(packed, grid_h, grid_w), unpacked));
  auto sample = test::golden_file("flux/flux_tiny_sample.safetensors");
  BOOST_TEST(torch::equal(flux::unpack_latent(test::golden_tensor(*sample, "final"), grid_h, grid_w),
                          test::golden_tensor(*sample, "final_unpacked")));
}

BOOST_AUTO_TEST_CASE(guidance_input_follows_the_config) {
  // guidance_embed: the file holds the guidance value, and the model requires it; without: neither.
  BOOST_TEST(guidance().defined() == config.guidance_embed);
  BOOST_TEST(info.at("guidance").is_null() == !config.guidance_embed);
  if (config.guidance_embed) {
    flux::RotaryTables pe = flux::rotary_tables(ids(), plain());
    BOOST_CHECK_THROW(model.forward(io_tensor("img"), io_tensor("txt"), io_tensor("timesteps"), io_tensor("y"),
                                    torch::Tensor(), pe),
                      genplug::Error);
  }
}

BOOST_AUTO_TEST_CASE(missing_and_misshapen_tensors_are_named) {
  // The tensor to drop is the golden file's last one in name order (whatever the depths are).
  flux::TensorMap weights = test::golden_tensor_map(*bfl);
  const std::string dropped = std::prev(weights.end())->first;
  weights.erase(dropped);
  try {
    flux::FluxTransformer broken(weights, config);
    BOOST_FAIL("a missing tensor was accepted");
  } catch (const genplug::Error& e) {
    BOOST_TEST(std::string(e.what()).find(dropped) != std::string::npos, e.what() << " lacks " << dropped);
  }
  flux::FluxConfig wider = config;
  wider.context_in_dim += 1;
  try {
    flux::FluxTransformer broken(test::golden_tensor_map(*bfl), wider);
    BOOST_FAIL("a wrongly shaped tensor was accepted");
  } catch (const genplug::Error& e) {
    BOOST_TEST(std::string(e.what()).find("txt_in.weight") != std::string::npos);
    BOOST_TEST(e.code() == GENPLUG_E_CONFIG);
  }
}

// The mini model's trainer builds the transformer from weights that require grad and trains them in place:
// forward records a graph through every weight (the transformer aliases the map's tensors), and the plugin's
// predict path (NoGradGuard) records none.
BOOST_AUTO_TEST_CASE(forward_records_gradients_into_the_weights_it_was_built_from) {
  flux::TensorMap weights = test::golden_tensor_map(*bfl);
  for (auto& [name, tensor] : weights) tensor = tensor.clone().requires_grad_(true);
  const flux::FluxTransformer trainable(weights, config);
  const torch::Tensor out = trainable.forward(io_tensor("img"), io_tensor("txt"), torch::full({1}, 0.5, torch::kFloat32),
                                              io_tensor("y"), guidance(), flux::rotary_tables(ids(), plain()));
  BOOST_TEST_REQUIRE(out.requires_grad());
  out.pow(2).sum().backward();
  for (const auto& [name, tensor] : weights) BOOST_TEST(tensor.grad().defined(), name << " got no gradient");
  torch::NoGradGuard no_grad;
  BOOST_TEST(!trainable.forward(io_tensor("img"), io_tensor("txt"), torch::full({1}, 0.5, torch::kFloat32),
                                io_tensor("y"), guidance(), flux::rotary_tables(ids(), plain())).requires_grad());
}

BOOST_AUTO_TEST_SUITE_END()
