// Narrow weights widened for a product (weight_widening.hpp, and widened() / Q8Weight in layers/weights.hpp): the
// kernels at every vector instruction set this CPU runs give the exact values (an 8-bit integer times a float16
// scale, a bfloat16, a float16 are all float32 values, so there is no rounding to bound), and
// the layers' threaded paths give libtorch's conversion bit for bit on 1, 2 and 3 threads.
#define BOOST_TEST_MODULE weight_widening
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include <genplug/flux/blas_threads.hpp>

#include "layers/weights.hpp"
#include "weight_widening.hpp"
#include "simd_levels_here.hpp"

using namespace genplug::flux;

BOOST_AUTO_TEST_CASE(the_kernel_is_q_times_d_at_every_level) {
  const int64_t blocks = 301;
  std::vector<int8_t> q(static_cast<size_t>(blocks * 32));
  std::vector<uint16_t> d(static_cast<size_t>(blocks));  // float16 bits: normal, subnormal, zero, both signs
  for (size_t i = 0; i < q.size(); ++i) q[i] = int8_t(int(i * 37 % 255) - 127);  // -127 ... 127, every value
  q[5] = -128;                                                                     // ggml never writes it; still exact
  for (size_t b = 0; b < d.size(); ++b) d[b] = uint16_t((b * 1777) % 0x7c00 | (b % 3 == 0 ? 0x8000 : 0));
  d[3] = 0, d[4] = 1, d[6] = 0x03ff;
  // The scales' values by libtorch's conversion: the reference is independent of the kernel's own.
  const torch::Tensor scales =
      torch::from_blob(d.data(), {blocks}, torch::kInt16).clone().view(torch::kFloat16).to(torch::kFloat32);
  for (SimdLevel s : genplug::test::simd_levels_here()) {
    for (int64_t n : {blocks, int64_t(1), int64_t(2)}) {
      std::vector<float> out(size_t(n * 32), -1.0f);
      widen_q8_0(s, q.data(), d.data(), out.data(), n);
      int wrong = 0;
      for (int64_t i = 0; i < n * 32; ++i)
        wrong += out[size_t(i)] != float(q[size_t(i)]) * scales[i / 32].item<float>();
      BOOST_TEST(wrong == 0, simd_level_name(s) << ", " << n << " blocks: " << wrong << " values differ");
    }
  }
}

BOOST_AUTO_TEST_CASE(bf16_and_f16_kernels_are_exact_at_every_level) {
  std::vector<uint16_t> bf16;  // every sign, exponent and a spread of mantissas: zeros, subnormals, inf, NaN
  for (uint32_t bits = 0; bits < 0x10000; bits += 7) bf16.push_back(uint16_t(bits));
  for (SimdLevel s : genplug::test::simd_levels_here()) {
    for (size_t n : {bf16.size(), size_t(3), size_t(31)}) {
      std::vector<float> out(n, -1.0f);
      widen_bf16(s, bf16.data(), out.data(), int64_t(n));
      int wrong = 0;
      for (size_t i = 0; i < n; ++i) {
        uint32_t bits;
        std::memcpy(&bits, &out[i], 4);
        wrong += bits != uint32_t(bf16[i]) << 16;  // bit for bit, NaN payloads included
      }
      BOOST_TEST(wrong == 0, simd_level_name(s) << ", bf16, " << n << " values");
    }
    // Every float16 bit pattern against libtorch's conversion (NaNs: NaN, either way).
    std::vector<uint16_t> all(0x10000);
    for (uint32_t bits = 0; bits < 0x10000; ++bits) all[bits] = uint16_t(bits);
    const torch::Tensor expected =
        torch::from_blob(all.data(), {0x10000}, torch::kInt16).clone().view(torch::kFloat16).to(torch::kFloat32);
    for (size_t n : {all.size(), size_t(9), size_t(23)}) {
      std::vector<float> out(n, -1.0f);
      widen_f16(s, all.data(), out.data(), int64_t(n));
      int wrong = 0;
      for (size_t i = 0; i < n; ++i) {
        const float e = expected[int64_t(i)].item<float>();
        wrong += std::isnan(e) ? !std::isnan(out[i]) : out[i] != e || std::signbit(out[i]) != std::signbit(e);
      }
      BOOST_TEST(wrong == 0, simd_level_name(s) << ", f16, " << n << " values");
    }
  }
}

BOOST_AUTO_TEST_CASE(the_layer_widens_like_libtorch_on_any_thread_count) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  const int64_t rows = 300, cols = 4096;  // 38 400 blocks: split over the threads asked for
  const layers::Q8Weight w{torch::randint(-127, 128, {rows, cols}, torch::kInt8),
                           (torch::rand({rows, cols / 32}) * 1e-2).to(torch::kFloat16)};
  const torch::Tensor expected =
      (w.q.to(torch::kFloat32).view({rows, cols / 32, 32}) * w.d.to(torch::kFloat32).unsqueeze(-1)).view({rows, cols});
  const int pool = openblas_threads();
  for (int threads : {1, 2, 3}) {
    set_openblas_threads(threads);
    BOOST_TEST(torch::equal(w.widened(torch::kFloat32), expected), threads << " threads");
  }
  // Other dtypes and recorded forwards take libtorch's conversion: the same values, rounded once.
  BOOST_TEST(torch::equal(w.widened(torch::kBFloat16), expected.to(torch::kBFloat16)));
  // bf16 and f16 weights (widened()), int8 by libtorch's copy: 1 000 003 values, ragged against the threads' runs.
  const torch::Tensor i8 = torch::randint(-128, 128, {1000003}, torch::kInt8);
  const torch::Tensor b16 = torch::randn({1000003}).to(torch::kBFloat16);
  for (int threads : {1, 2, 3}) {
    set_openblas_threads(threads);
    BOOST_TEST(torch::equal(layers::widened(i8, torch::kFloat32), i8.to(torch::kFloat32)), threads << " threads");
    BOOST_TEST(torch::equal(layers::widened(b16, torch::kFloat32), b16.to(torch::kFloat32)), threads << " threads");
  }
  const torch::Tensor f16 = torch::randn({1000003}).to(torch::kFloat16);
  for (int threads : {1, 2, 3}) {
    set_openblas_threads(threads);
    BOOST_TEST(torch::equal(layers::widened(f16, torch::kFloat32), f16.to(torch::kFloat32)), threads << " threads");
  }
  set_openblas_threads(pool);
}
