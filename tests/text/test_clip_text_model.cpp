#define BOOST_TEST_MODULE clip_text_model
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include <genplug/flux/text/clip_text_model.hpp>
#include <genplug/flux/text/text_weights.hpp>

#include "golden.hpp"
#include "isa_emulation.hpp"
#include "rounding_bound.hpp"
#include "text_test_util.hpp"

namespace gt = genplug::flux::text;
namespace st = genplug::safetensors;

namespace {

nlohmann::json golden_config() {
  return genplug::test::read_json(genplug::test::golden("clip/clip_text_tiny_info.json"))["config"];
}

gt::ClipTextModel load_golden(torch::ScalarType dtype = torch::kFloat32) {
  return gt::ClipTextModel::from_weights(
      gt::load_text_weights(genplug::test::golden("clip/clip_text_tiny.safetensors"),
                            "text_model.final_layer_norm.weight", "CLIP text encoder", torch::kCPU, dtype),
      golden_config()["num_attention_heads"].get<int64_t>());
}

// `out` against the reference's output, bounded by rounding (rounding_bound.hpp), `exact` the same output of the
// float64 model. The longest sum: the MLP's output (intermediate_size), hidden_size, the softmax over the tokens.
genplug::test::RoundingBound bound(const torch::Tensor& out, const torch::Tensor& exact, const torch::Tensor& expected,
                                   int64_t tokens) {
  const auto cfg = golden_config();
  const int64_t longest =
      std::max({cfg["intermediate_size"].get<int64_t>(), cfg["hidden_size"].get<int64_t>(), tokens});
  return genplug::test::rounding_bound(out, exact, expected, longest);
}

void check(const gt::ClipTextModel& model, const std::string& prefix) {
  const auto io = st::File::open(genplug::test::golden("clip/clip_text_tiny_io.safetensors"));
  const torch::Tensor ids = genplug::test::to_torch(io->at(prefix + "input_ids"));
  const gt::ClipTextOutput out = model.forward(ids);
  const torch::Tensor last = genplug::test::to_torch(io->at(prefix + "last_hidden_state"));
  const torch::Tensor pooled = genplug::test::to_torch(io->at(prefix + "pooler_output"));
  BOOST_TEST_REQUIRE(out.last_hidden_state.sizes() == last.sizes());
  BOOST_TEST_REQUIRE(out.pooled.sizes() == pooled.sizes());
  const gt::ClipTextOutput exact = load_golden(torch::kFloat64).forward(ids);
  const auto b_last = bound(out.last_hidden_state, exact.last_hidden_state, last, ids.size(1));
  const auto b_pooled = bound(out.pooled, exact.pooled, pooled, ids.size(1));
  BOOST_TEST_MESSAGE(prefix << "ids " << ids.sizes() << ": last_hidden_state " << b_last << "; pooled " << b_pooled);
  BOOST_TEST(b_last.holds(), b_last);
  BOOST_TEST(b_pooled.holds(), b_pooled);
  if (const auto* index = io->find(prefix + "pooled_index")) {
    const torch::Tensor expected_index = genplug::test::to_torch(*index);
    BOOST_TEST(torch::equal(ids.argmax(-1), expected_index));
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(config_is_inferred_from_shapes) {
  const auto cfg = golden_config();
  const auto model = load_golden();
  BOOST_TEST(model.config().vocab_size == cfg["vocab_size"].get<int64_t>());
  BOOST_TEST(model.config().hidden_size == cfg["hidden_size"].get<int64_t>());
  BOOST_TEST(model.config().intermediate_size == cfg["intermediate_size"].get<int64_t>());
  BOOST_TEST(model.config().num_layers == cfg["num_hidden_layers"].get<int64_t>());
  BOOST_TEST(model.config().max_positions == cfg["max_position_embeddings"].get<int64_t>());
}

BOOST_AUTO_TEST_CASE(golden_padded_batch) { check(load_golden(), ""); }

BOOST_AUTO_TEST_CASE(golden_short_sequence) { check(load_golden(), "short."); }

BOOST_AUTO_TEST_CASE(causal_mask_ignores_later_tokens) {
  // Changing a token must not change any earlier position's output.
  const auto model = load_golden();
  const auto io = st::File::open(genplug::test::golden("clip/clip_text_tiny_io.safetensors"));
  torch::Tensor ids = genplug::test::to_torch(io->at("input_ids")).slice(0, 0, 1).clone();
  BOOST_TEST_REQUIRE(ids.size(1) >= 2);
  const int64_t p = ids.size(1) / 2;  // the changed position
  const torch::Tensor a = model.forward(ids).last_hidden_state;
  ids[0][p] = (ids[0][p].item<int64_t>() + 1) % model.config().vocab_size;
  const torch::Tensor b = model.forward(ids).last_hidden_state;
  BOOST_TEST(torch::equal(a.slice(1, 0, p), b.slice(1, 0, p)));
  BOOST_TEST(!torch::equal(a.slice(1, p, p + 1), b.slice(1, p, p + 1)));
}

// Settings the weights cannot show: the golden config must be what the encoder implements, so that a set with
// other values fails here by name rather than as an unexplained numeric mismatch.
BOOST_AUTO_TEST_CASE(golden_config_is_what_the_encoder_implements) {
  const auto cfg = golden_config();
  const auto model = load_golden();
  BOOST_TEST(cfg.value("hidden_act", "quick_gelu") == "quick_gelu");
  BOOST_TEST(cfg.value("layer_norm_eps", model.config().eps) == model.config().eps);
}

BOOST_AUTO_TEST_CASE(too_many_tokens_is_an_error) {
  const auto model = load_golden();
  BOOST_CHECK_THROW(model.forward(torch::zeros({1, model.config().max_positions + 1}, torch::kLong)),
                    std::invalid_argument);
}

// bfloat16 against float32, bounded relative to a reference measured in the same run: the float32 forward of the
// weights rounded to bfloat16 (e_w). Running in bfloat16 also rounds every linear layer's input and output with
// the same unit roundoff u = 2^-8, perturbations that enter each product as the weight rounding does, so they
// add at most about twice e_w; the final rounding adds u: e_bf16 <= 4 e_w + u (as for T5).
BOOST_AUTO_TEST_CASE(bfloat16_weights_follow_float32) {
  const genplug::test::Bf16AsOnCappedIsa isa;
  const auto file = genplug::test::golden("clip/clip_text_tiny.safetensors");
  const int64_t heads = golden_config()["num_attention_heads"].get<int64_t>();
  const auto io = st::File::open(genplug::test::golden("clip/clip_text_tiny_io.safetensors"));
  const auto ids = genplug::test::to_torch(io->at("input_ids"));
  const auto expected = genplug::test::to_torch(io->at("pooler_output"));

  auto rounded = gt::load_text_weights(file, "text_model.final_layer_norm.weight", "CLIP text encoder", torch::kCPU,
                                       torch::kBFloat16);
  for (auto& [name, t] : rounded.tensors) t = t.to(torch::kFloat32);
  const double e_w = genplug::test::relative_error(gt::ClipTextModel::from_weights(rounded, heads).forward(ids).pooled,
                                                   expected);

  const auto model = gt::ClipTextModel::from_weights(
      gt::load_text_weights(file, "text_model.final_layer_norm.weight", "CLIP text encoder", torch::kCPU,
                            torch::kBFloat16),
      heads);
  const gt::ClipTextOutput out = model.forward(ids);
  BOOST_TEST(out.pooled.scalar_type() == torch::kBFloat16);
  const double err = genplug::test::relative_error(out.pooled.to(torch::kFloat32), expected);
  BOOST_TEST_MESSAGE("bfloat16 pooled: relative error " << err << "; float32 with bfloat16-rounded weights " << e_w);
  BOOST_TEST_REQUIRE(std::isfinite(e_w));  // relative_error is infinite for a NaN or other shapes
  BOOST_TEST(e_w > 0.0);
  BOOST_TEST(err <= 4.0 * e_w + 0x1p-8);
}
