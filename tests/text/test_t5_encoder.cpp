#define BOOST_TEST_MODULE t5_encoder
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include <genplug/flux/text/t5_encoder.hpp>
#include <genplug/flux/text/text_weights.hpp>

#include "golden.hpp"
#include "isa_emulation.hpp"
#include "rounding_bound.hpp"
#include "text_test_util.hpp"

namespace fs = std::filesystem;
namespace gt = genplug::flux::text;
namespace st = genplug::safetensors;

namespace {

const char* kAnchor = "encoder.final_layer_norm.weight";

gt::T5Encoder load(const fs::path& path, int64_t max_distance, torch::ScalarType dtype = torch::kFloat32) {
  return gt::T5Encoder::from_weights(gt::load_text_weights(path, kAnchor, "T5 encoder", torch::kCPU, dtype),
                                     max_distance);
}

nlohmann::json golden_config() { return genplug::test::read_json(genplug::test::golden("t5/t5_tiny_info.json"))["config"]; }

// The golden weights in float64: the exact encoder the rounding bounds measure ours against (loaded once).
const gt::T5Encoder& exact_encoder() {
  static const gt::T5Encoder exact = load(genplug::test::golden("t5/t5_tiny.safetensors"),
                                          golden_config()["relative_attention_max_distance"], torch::kFloat64);
  return exact;
}

// `out` for `ids` against the reference's output, bounded by rounding (rounding_bound.hpp). The longest sum: the
// feed-forward's output (d_ff), the attention's (heads x d_kv) and its softmax over the tokens, d_model.
genplug::test::RoundingBound bound(const torch::Tensor& out, const torch::Tensor& ids, const torch::Tensor& expected) {
  const auto cfg = golden_config();
  const int64_t longest = std::max({cfg["d_ff"].get<int64_t>(), cfg["d_model"].get<int64_t>(),
                                    cfg["num_heads"].get<int64_t>() * cfg["d_kv"].get<int64_t>(), ids.size(1)});
  return genplug::test::rounding_bound(out, exact_encoder().forward(ids), expected, longest);
}

// Every "<case>.input_ids" in the io file, with its expected last_hidden_state.
void check_cases(const gt::T5Encoder& encoder, const std::string& label) {
  const auto io = st::File::open(genplug::test::golden("t5/t5_tiny_io.safetensors"));
  int cases = 0;
  for (const auto& info : io->tensors()) {
    const std::string suffix = ".input_ids";
    if (info.name.size() <= suffix.size() || info.name.compare(info.name.size() - suffix.size(), suffix.size(), suffix))
      continue;
    const std::string name = info.name.substr(0, info.name.size() - suffix.size());
    const torch::Tensor ids = genplug::test::to_torch(info);
    const torch::Tensor expected = genplug::test::to_torch(io->at(name + ".last_hidden_state"));
    const torch::Tensor out = encoder.forward(ids);
    BOOST_TEST_REQUIRE(out.sizes() == expected.sizes());
    const genplug::test::RoundingBound b = bound(out, ids, expected);
    BOOST_TEST_MESSAGE(label << " " << name << " " << ids.sizes() << ": " << b);
    BOOST_TEST(b.holds(), label << " " << name << ": " << b);
    if (const auto* bias = io->find(name + ".position_bias")) {
      const torch::Tensor expected_bias = genplug::test::to_torch(*bias);
      const torch::Tensor got = encoder.position_bias(ids.size(1))[0];
      BOOST_TEST(torch::equal(got, expected_bias), name << ": position bias differs");
    }
    ++cases;
  }
  BOOST_TEST(cases > 0);
}

fs::path temp_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("genplug_t5_" + name + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

// The golden weights re-written under `prefix`, split over `shards` files (+ index.json when > 1).
fs::path rewrite(const fs::path& dir, const std::string& prefix, int shards) {
  const auto src = st::File::open(genplug::test::golden("t5/t5_tiny.safetensors"));
  std::vector<std::vector<st::TensorData>> parts(shards);
  nlohmann::json weight_map = nlohmann::json::object();
  int i = 0;
  for (const auto& info : src->tensors()) {
    st::TensorData d = st::TensorData::borrow(info);
    d.name = prefix + info.name;
    const int shard = i++ % shards;
    weight_map[d.name] = "model-0000" + std::to_string(shard + 1) + "-of-0000" + std::to_string(shards) + ".safetensors";
    parts[shard].push_back(std::move(d));
  }
  if (shards == 1) {
    st::write_file(dir / "t5xxl_fp32.safetensors", parts[0]);
    return dir / "t5xxl_fp32.safetensors";
  }
  for (int s = 0; s < shards; ++s)
    st::write_file(dir / ("model-0000" + std::to_string(s + 1) + "-of-0000" + std::to_string(shards) + ".safetensors"),
                   parts[s]);
  std::ofstream(dir / "model.safetensors.index.json") << nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump();
  return dir;
}

}  // namespace

BOOST_AUTO_TEST_CASE(config_is_inferred_from_shapes) {
  const auto cfg = golden_config();
  const auto encoder = load(genplug::test::golden("t5/t5_tiny.safetensors"), cfg["relative_attention_max_distance"]);
  BOOST_TEST(encoder.config().vocab_size == cfg["vocab_size"].get<int64_t>());
  BOOST_TEST(encoder.config().d_model == cfg["d_model"].get<int64_t>());
  BOOST_TEST(encoder.config().d_kv == cfg["d_kv"].get<int64_t>());
  BOOST_TEST(encoder.config().d_ff == cfg["d_ff"].get<int64_t>());
  BOOST_TEST(encoder.config().num_layers == cfg["num_layers"].get<int64_t>());
  BOOST_TEST(encoder.config().num_heads == cfg["num_heads"].get<int64_t>());
  BOOST_TEST(encoder.config().num_buckets == cfg["relative_attention_num_buckets"].get<int64_t>());
}

BOOST_AUTO_TEST_CASE(relative_position_buckets) {
  const auto cfg = golden_config();
  const auto io = st::File::open(genplug::test::golden("t5/t5_tiny_io.safetensors"));
  const torch::Tensor rel = genplug::test::to_torch(io->at("relative_position"));
  const torch::Tensor expected = genplug::test::to_torch(io->at("relative_bucket"));
  const torch::Tensor got = gt::T5Encoder::relative_position_bucket(rel, cfg["relative_attention_num_buckets"],
                                                                    cfg["relative_attention_max_distance"]);
  BOOST_TEST(torch::equal(got, expected));
}

BOOST_AUTO_TEST_CASE(golden_last_hidden_state) {
  const auto cfg = golden_config();
  check_cases(load(genplug::test::golden("t5/t5_tiny.safetensors"), cfg["relative_attention_max_distance"]), "file");
}

BOOST_AUTO_TEST_CASE(comfyui_prefix_and_diffusers_shards) {
  const auto cfg = golden_config();
  const fs::path dir = temp_dir("layouts");
  const fs::path single = rewrite(dir, "text_encoders.t5xxl.transformer.", 1);
  check_cases(load(single, cfg["relative_attention_max_distance"]), "comfyui-prefixed");
  fs::create_directories(dir / "text_encoder_2");
  const fs::path sharded = rewrite(dir / "text_encoder_2", "", 2);
  check_cases(load(sharded, cfg["relative_attention_max_distance"]), "sharded");
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(errors_name_the_problem) {
  const fs::path dir = temp_dir("errors");
  auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string missing = message([&] { load(dir / "nope.safetensors", 128); });
  BOOST_TEST(missing.find("nope.safetensors") != std::string::npos, missing);
  std::ofstream(dir / "bad.safetensors") << "garbage that is no safetensors file";
  const std::string corrupt = message([&] { load(dir / "bad.safetensors", 128); });
  BOOST_TEST(corrupt.find("bad.safetensors") != std::string::npos, corrupt);
  // A CLIP checkpoint is not a T5 one.
  const std::string wrong = message([&] { load(genplug::test::golden("clip/clip_text_tiny.safetensors"), 128); });
  BOOST_TEST(wrong.find("encoder.final_layer_norm.weight") != std::string::npos, wrong);
  // Token ids beyond the embedding.
  const auto encoder = load(genplug::test::golden("t5/t5_tiny.safetensors"), golden_config()["relative_attention_max_distance"]);
  const std::string ids = message([&] { encoder.forward(torch::full({1, 4}, encoder.config().vocab_size, torch::kLong)); });
  BOOST_TEST(ids.find("outside the embedding") != std::string::npos, ids);
  // The relative attention bias: no head ([32, 0] had divided by zero, SIGFPE), too few buckets (an index out of
  // range, naming no file), or integers (reported as a missing tensor); an integer q of the last block (the layers
  // had been counted without it).
  const std::string bias = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
  const auto golden = st::File::open(genplug::test::golden("t5/t5_tiny.safetensors"));
  int64_t blocks = 0;
  while (golden->find("encoder.block." + std::to_string(blocks) + ".layer.0.SelfAttention.q.weight")) ++blocks;
  const std::string last_q = "encoder.block." + std::to_string(blocks - 1) + ".layer.0.SelfAttention.q.weight";
  const std::string integers = "' has dtype I32, expected a floating-point type";
  for (const auto& [name, shape, type, text] :
       {std::tuple{bias, std::vector<int64_t>{32, 0}, st::DType::F32,
                   std::string("relative_attention_bias.weight is 32 x 0, expected at least 4 buckets x 1 head")},
        std::tuple{bias, std::vector<int64_t>{2, 4}, st::DType::F32,
                   std::string("relative_attention_bias.weight is 2 x 4, expected at least 4 buckets x 1 head")},
        std::tuple{bias, golden->at(bias).shape, st::DType::I32, "tensor '" + bias + integers},
        std::tuple{last_q, golden->at(last_q).shape, st::DType::I32, "tensor '" + last_q + integers}}) {
    std::vector<st::TensorData> tensors;
    for (const auto& info : golden->tensors())
      if (info.name != name) tensors.push_back(st::TensorData::borrow(info));
    st::TensorData replaced;
    replaced.name = name;
    replaced.dtype = type;
    replaced.shape = shape;
    replaced.bytes.assign(std::size_t(shape[0] * shape[1]) * 4, 0);
    tensors.push_back(std::move(replaced));
    st::write_file(dir / "bias.safetensors", tensors);
    const std::string m = message([&] { load(dir / "bias.safetensors", 128); });
    BOOST_TEST(m.find("bias.safetensors': " + text) != std::string::npos, m);
  }
  // A max_distance within the exact buckets (num_buckets / 4) makes the log-spaced ones index outside the bias.
  const int64_t buckets = golden->at(bias).shape[0];
  const std::string near = message([&] { load(genplug::test::golden("t5/t5_tiny.safetensors"), buckets / 4); });
  BOOST_TEST(near.find("relative_attention_max_distance " + std::to_string(buckets / 4) + " must exceed") !=
                 std::string::npos,
             near);
  fs::remove_all(dir);
}

// The reduced-precision path (RMSNorm cast to the weight dtype, float32 softmax) against float32. The bound
// is relative to a reference measured in the same run: the float32 forward of the weights rounded to bfloat16
// (error e_w). Running in bfloat16 rounds, besides the weights, every linear layer's input and output with
// the same unit roundoff u = 2^-8; those perturbations enter each product as the weight rounding does
// (|W| |x| u), so they add at most about twice e_w again, and the final output rounding adds u relative:
// e_bf16 <= 4 e_w + u. Measured on the shown set (AVX-512 and forced AVX2 kernels): e_bf16 / e_w ~ 1-2.
// Settings the weights cannot show: the golden config must be what the encoder implements (gated GELU, tanh form;
// RMSNorm epsilon), so that a set with other values fails here by name.
BOOST_AUTO_TEST_CASE(golden_config_is_what_the_encoder_implements) {
  const auto cfg = golden_config();
  const auto encoder = load(genplug::test::golden("t5/t5_tiny.safetensors"), cfg["relative_attention_max_distance"]);
  BOOST_TEST(cfg.value("feed_forward_proj", "gated-gelu") == "gated-gelu");
  BOOST_TEST(cfg.value("dense_act_fn", "gelu_new") == "gelu_new");
  BOOST_TEST(cfg.value("layer_norm_epsilon", encoder.config().eps) == encoder.config().eps);
}

namespace {
// The io file's first "<case>" of "<case>.input_ids" (the golden set names its cases).
std::string first_case_of(const st::File& io) {
  for (const auto& info : io.tensors())
    if (info.name.size() > 10 && info.name.compare(info.name.size() - 10, 10, ".input_ids") == 0)
      return info.name.substr(0, info.name.size() - 10);
  return "";
}
}  // namespace

BOOST_AUTO_TEST_CASE(bfloat16_weights_follow_float32) {
  const genplug::test::Bf16AsOnCappedIsa isa;
  const auto cfg = golden_config();
  const fs::path file = genplug::test::golden("t5/t5_tiny.safetensors");
  const auto io = st::File::open(genplug::test::golden("t5/t5_tiny_io.safetensors"));
  const std::string first_case = first_case_of(*io);
  BOOST_TEST_REQUIRE(!first_case.empty());
  const auto ids = genplug::test::to_torch(io->at(first_case + ".input_ids"));
  const auto expected = genplug::test::to_torch(io->at(first_case + ".last_hidden_state"));

  auto rounded = gt::load_text_weights(file, kAnchor, "T5 encoder", torch::kCPU, torch::kBFloat16);
  for (auto& [name, t] : rounded.tensors) t = t.to(torch::kFloat32);
  const auto weights_only = gt::T5Encoder::from_weights(rounded, cfg["relative_attention_max_distance"]);
  const double e_w = genplug::test::relative_error(weights_only.forward(ids), expected);

  const auto encoder = gt::T5Encoder::from_weights(
      gt::load_text_weights(file, kAnchor, "T5 encoder", torch::kCPU, torch::kBFloat16),
      cfg["relative_attention_max_distance"]);
  const torch::Tensor out = encoder.forward(ids);
  BOOST_TEST(out.scalar_type() == torch::kBFloat16);
  const double err = genplug::test::relative_error(out.to(torch::kFloat32), expected);
  BOOST_TEST_MESSAGE("bfloat16 " << first_case << ": relative error " << err << "; float32 with bfloat16-rounded weights " << e_w);
  BOOST_TEST_REQUIRE(std::isfinite(e_w));  // relative_error is infinite for a NaN or other shapes
  BOOST_TEST(e_w > 0.0);                   // the rounding is real
  BOOST_TEST(err <= 4.0 * e_w + 0x1p-8);
}

// forward() records autograd when the weights it was built from require grad (the mini trainer fine-tunes T5 this
// way: from_weights keeps the tensors, it does not copy them), and gives the same values; weights that do not
// require grad (every inference path) record nothing.
BOOST_AUTO_TEST_CASE(forward_trains_weights_that_require_grad) {
  const auto cfg = golden_config();
  const fs::path file = genplug::test::golden("t5/t5_tiny.safetensors");
  const auto io = st::File::open(genplug::test::golden("t5/t5_tiny_io.safetensors"));
  const std::string first_case = first_case_of(*io);
  BOOST_TEST_REQUIRE(!first_case.empty());
  const auto ids = genplug::test::to_torch(io->at(first_case + ".input_ids"));
  const auto expected = genplug::test::to_torch(io->at(first_case + ".last_hidden_state"));

  const torch::Tensor frozen = load(file, cfg["relative_attention_max_distance"]).forward(ids);
  BOOST_TEST(!frozen.requires_grad());

  auto weights = gt::load_text_weights(file, kAnchor, "T5 encoder", torch::kCPU, torch::kFloat32);
  for (auto& [name, t] : weights.tensors) t.requires_grad_(true);
  const auto tensors = weights.tensors;
  const torch::Tensor out = gt::T5Encoder::from_weights(weights, cfg["relative_attention_max_distance"]).forward(ids);
  BOOST_TEST_REQUIRE(out.requires_grad());
  // The same function as the frozen forward (held to it as to a reference), and as golden_last_hidden_state.
  const genplug::test::RoundingBound same = bound(out, ids, frozen), b = bound(out, ids, expected);
  BOOST_TEST(same.holds(), same);
  BOOST_TEST(b.holds(), b);
  out.square().sum().backward();
  for (const auto& [name, t] : tensors) {
    if (name == "encoder.embed_tokens.weight" && tensors.count("shared.weight")) continue;  // an alias of shared
    BOOST_TEST(t.grad().defined(), name << " received no gradient");
  }
}
