// Half-size weights with f32 compute (issue #18 item 4): the transformer keeps its linear weights in bf16 or f16
// and widens each just before its product. The forward must be exactly the f32 forward of the same (rounded)
// weights: widening is exact, and the products then see the same f32 numbers in the same layout. 8-bit weights
// (int8 per row) likewise, up to where their row scales are applied.
#define BOOST_TEST_MODULE flux_weight_dtype
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <random>

#include <ATen/Parallel.h>

#include <genplug/flux/ggml_blocks_layout.hpp>
#include <genplug/flux/intra_op_threads.hpp>
#include <genplug/flux/presets.hpp>
#include <genplug/flux/rotary.hpp>
#include <genplug/flux/transformer.hpp>

#include "env_scope.hpp"
#include "ggml_block_packer.hpp"
#include "isa_emulation.hpp"
#include "random_forward_inputs.hpp"

using namespace genplug::flux;

namespace {

using Inputs = genplug::test::RandomForwardInputs;

// The weights as a checkpoint of `dtype` holds them, and the same numbers in f32.
std::pair<TensorMap, TensorMap> weights_in(const FluxConfig& c, torch::Dtype dtype) {
  TensorMap narrow = random_flux_weights(c, 11, dtype), wide;
  for (const auto& [name, t] : narrow) wide.emplace(name, t.to(torch::kFloat32));
  return {narrow, wide};
}

}  // namespace

BOOST_AUTO_TEST_CASE(half_size_weights_widened_per_layer_equal_the_f32_forward_of_the_same_numbers) {
  const FluxConfig c = flux_preset("tiny");
  const Inputs in(c, 4, 6, 5);
  for (torch::Dtype dtype : {torch::kBFloat16, torch::kFloat16}) {
    const auto [narrow, wide] = weights_in(c, dtype);
    const FluxTransformer kept(narrow, c, torch::kFloat32, torch::kCPU, dtype);
    const FluxTransformer widened(wide, c, torch::kFloat32);
    BOOST_TEST(kept.weight_dtype() == dtype);
    BOOST_TEST(kept.dtype() == torch::kFloat32);
    const torch::Tensor a = in.run(kept), b = in.run(widened);
    BOOST_TEST(a.scalar_type() == torch::kFloat32);
    BOOST_TEST(torch::equal(a, b), "weights " << dtype << ": max |diff| " << (a - b).abs().max().item<double>());
    // Twice: the per-thread buffer the layers share is reused, not stale.
    BOOST_TEST(torch::equal(in.run(kept), b));
  }
}

// The two models hold different weights, and a buffer widened for one is never read by the other.
BOOST_AUTO_TEST_CASE(models_of_different_weights_interleaved_on_one_thread_stay_apart) {
  const FluxConfig c = flux_preset("tiny");
  const Inputs in(c, 3, 3, 4);
  const auto [narrow1, wide1] = weights_in(c, torch::kBFloat16);
  TensorMap narrow2;
  for (const auto& [name, t] : narrow1) narrow2.emplace(name, (t.to(torch::kFloat32) * 0.5).to(torch::kBFloat16));
  const FluxTransformer m1(narrow1, c, torch::kFloat32, torch::kCPU, torch::kBFloat16);
  const FluxTransformer m2(narrow2, c, torch::kFloat32, torch::kCPU, torch::kBFloat16);
  const torch::Tensor first = in.run(m1), other = in.run(m2), again = in.run(m1);
  BOOST_TEST(torch::equal(first, again));
  BOOST_TEST(!torch::equal(first, other));
}

// bf16 products run in oneDNN on libtorch's intra-op threads, which the forward raises to the physical cores unless
// the user chose a count (OMP_NUM_THREADS; scripts/test.sh sets 1). The count is put back after, and the threads
// change the velocity no more than bf16 rounding does: both runs lie within bf16's distance of the f32 forward
// (1.1e-2 of the largest output on this model, test_flux_plugin), so within twice that of each other.
BOOST_AUTO_TEST_CASE(a_bf16_forward_on_every_core_puts_libtorchs_thread_count_back) {
  const genplug::test::Bf16AsOnCappedIsa isa;  // under ONEDNN_MAX_CPU_ISA=AVX2 on an AVX-512 CPU, as on AVX2 hardware
  const FluxConfig c = flux_preset("tiny");
  const Inputs in(c, 4, 6, 5);
  const FluxTransformer m(random_flux_weights(c, 11, torch::kBFloat16), c, torch::kBFloat16, torch::kCPU,
                          torch::kBFloat16);
  BOOST_TEST(m.raises_intra_op_threads());
  BOOST_TEST(!FluxTransformer(random_flux_weights(c, 11), c).raises_intra_op_threads());  // f32: OpenBLAS's pool
  at::set_num_threads(1);
  const long raised_before = IntraOpThreads::raises();
  torch::Tensor one, all;
  {
    const genplug::test::EnvScope chosen("OMP_NUM_THREADS", "1");
    one = in.run(m).to(torch::kFloat32);
  }
  BOOST_TEST(IntraOpThreads::raises() == raised_before);
  {
    const genplug::test::EnvScope unset("OMP_NUM_THREADS", nullptr);
    all = in.run(m).to(torch::kFloat32);
  }
  BOOST_TEST(IntraOpThreads::raises() == raised_before + (physical_cores_available() > 1 ? 1 : 0));
  BOOST_TEST(at::get_num_threads() == 1);
  const double scale = one.abs().max().item<double>();
  BOOST_TEST(scale > 0);
  BOOST_TEST((all - one).abs().max().item<double>() <= 2 * 1.1e-2 * scale);
}

// With autograd recording (the mini trainer's forward), the conversion is the differentiable one: gradients reach
// the narrow weights.
BOOST_AUTO_TEST_CASE(a_recorded_forward_differentiates_through_the_widening) {
  const FluxConfig c = flux_preset("tiny");
  const Inputs in(c, 2, 2, 3);
  TensorMap narrow = random_flux_weights(c, 11, torch::kBFloat16);
  for (auto& [name, t] : narrow) t = t.clone().set_requires_grad(true);
  const FluxTransformer m(narrow, c, torch::kFloat32, torch::kCPU, torch::kBFloat16);
  const torch::Tensor out = m.forward(in.img, in.txt, in.t, in.y, in.g, in.pe);
  out.square().mean().backward();
  const torch::Tensor& w = narrow.at("img_in.weight");
  BOOST_TEST(w.grad().defined());
  BOOST_TEST(w.grad().abs().sum().item<double>() > 0);
}

// 8-bit weights (issue #18 item 4): int8 per output row, W ~ q s with s = max_j |W_ij| / 127, q = round(W / s).
// The forward is the f32 forward of the dequantised weights q s up to rounding order ((x q^T) s against
// x (q s)^T: a few float32 ulp per product), and near the forward of the original weights.
BOOST_AUTO_TEST_CASE(int8_weights_are_the_f32_forward_of_the_dequantised_weights) {
  const FluxConfig c = flux_preset("tiny");
  const Inputs in(c, 4, 6, 5);
  const TensorMap original = random_flux_weights(c, 11, torch::kFloat32);
  TensorMap dequantised;
  for (const auto& [name, t] : original) {
    if (t.dim() != 2) {  // biases and norm scales stay as they are
      dequantised.emplace(name, t);
      continue;
    }
    const torch::Tensor s = t.abs().amax(1, true).clamp_min(1e-30) / 127.0;
    dequantised.emplace(name, (t / s).round().clamp(-127, 127) * s);
  }
  const FluxTransformer int8(original, c, torch::kFloat32, torch::kCPU, torch::kInt8);
  BOOST_TEST(int8.weight_dtype() == torch::kInt8);
  const torch::Tensor a = in.run(int8);
  const torch::Tensor b = in.run(FluxTransformer(dequantised, c, torch::kFloat32));
  const torch::Tensor f = in.run(FluxTransformer(original, c, torch::kFloat32));
  const double to_dequantised = ((a - b).abs().max() / b.abs().max()).item<double>();
  const double to_original = ((a - f).abs().max() / f.abs().max()).item<double>();
  BOOST_TEST_MESSAGE("int8 forward: " << to_dequantised << " from the dequantised f32 forward, " << to_original
                                      << " from the original weights' forward (relative to the largest output)");
  BOOST_TEST(to_dequantised < 1e-5);
  // Each weight moves by up to 0.4 % of its row's largest, the small ones by much more of themselves: 1.5e-2
  // measured here (bf16 weights: 4e-3). The bound is twice that, an empirical one: no analysis gives it.
  BOOST_TEST(to_original < 3e-2);
  BOOST_TEST(to_original > to_dequantised);
}

// The widening buffers' bound (what the plugin's working-memory estimate adds): nothing when every weight is kept
// in the compute dtype; otherwise the largest weight widened alone (slot 0: here the double block's modulation,
// 6 hidden x hidden) and the single block's linear2 (slot 1), in the compute dtype.
BOOST_AUTO_TEST_CASE(the_widening_buffers_are_counted_only_where_weights_are_widened) {
  const FluxConfig c = flux_preset("tiny");
  const int64_t H = c.hidden_size, expected = (std::max(6 * H, c.mlp_hidden()) * H + H * (H + c.mlp_hidden())) * 4;
  const TensorMap f32 = random_flux_weights(c, 11), bf16 = random_flux_weights(c, 11, torch::kBFloat16);
  BOOST_TEST(FluxTransformer(f32, c).widening_buffer_bytes() == 0);
  BOOST_TEST(FluxTransformer(bf16, c, torch::kBFloat16, torch::kCPU, torch::kBFloat16).widening_buffer_bytes() == 0);
  const FluxTransformer kept(bf16, c, torch::kFloat32, torch::kCPU, torch::kBFloat16);
  BOOST_TEST(kept.widening_buffer_bytes() == expected);
  BOOST_TEST(FluxTransformer(f32, c, torch::kFloat32, torch::kCPU, torch::kInt8).widening_buffer_bytes() == expected);

  // GGUF blocks (ggml_blocks_layout.hpp) decode into float32 buffers: 4 bytes a value under f32 compute, and a
  // bf16 copy of each on top under bf16 compute.
  auto with_blocks = [&](TensorMap m) {
    const std::string name = "double_blocks.0.img_mlp.0.weight";
    const torch::Tensor w = m.at(name);
    std::mt19937 rng(3);
    const auto p = genplug::test::random_blocks(genplug::gguf::Type::Q4_0, int(w.numel() / 32), rng, 0.1f);
    torch::Tensor bytes = torch::empty({w.size(0), int64_t(p.bytes.size()) / w.size(0)}, torch::kUInt8);
    std::memcpy(bytes.data_ptr(), p.bytes.data(), p.bytes.size());
    m[name] = bytes;
    m[ggml_type_key(name)] = torch::tensor({int32_t(genplug::gguf::Type::Q4_0)}, torch::kInt32);
    return m;
  };
  const FluxTransformer blocks_f32(with_blocks(f32), c);
  BOOST_TEST(blocks_f32.gguf_block_types() == std::vector<std::string>{"Q4_0"});
  BOOST_TEST(blocks_f32.widening_buffer_bytes() == expected);
  const FluxTransformer blocks_bf16(with_blocks(bf16), c, torch::kBFloat16, torch::kCPU, torch::kBFloat16);
  BOOST_TEST(blocks_bf16.widening_buffer_bytes() == expected / 4 * (4 + 2));
}
