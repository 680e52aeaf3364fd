// GGUF Q8_0 weights widened for a product (q8_0_widen.hpp, and Q8Weight in layers/weights.hpp): the kernel at
// every vector instruction set this CPU runs gives q * d exactly (an 8-bit integer times a float16 scale is a
// float32 value, so there is no rounding to bound), and the layer's threaded path gives libtorch's conversion bit
// for bit on 1, 2 and 3 threads.
#define BOOST_TEST_MODULE q8_0_widen
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <vector>

#include <genplug/flux/blas_threads.hpp>

#include "layers/weights.hpp"
#include "q8_0_widen.hpp"
#include "simd_levels_here.hpp"

using namespace genplug::flux;

BOOST_AUTO_TEST_CASE(the_kernel_is_q_times_d_at_every_level) {
  const int64_t blocks = 37;
  std::vector<int8_t> q(static_cast<size_t>(blocks * 32));
  std::vector<float> d(static_cast<size_t>(blocks));
  for (size_t i = 0; i < q.size(); ++i) q[i] = int8_t(int(i * 37 % 255) - 127);  // -127 ... 127, every value
  q[5] = -128;                                                                     // ggml never writes it; still exact
  for (size_t b = 0; b < d.size(); ++b) d[b] = std::ldexp(1.0f + float(b % 1024) / 1024.0f, int(b % 40) - 30);
  d[3] = 0.0f;
  for (SimdLevel s : genplug::test::simd_levels_here()) {
    for (int64_t n : {blocks, int64_t(1), int64_t(2)}) {
      std::vector<float> out(size_t(n * 32), -1.0f);
      widen_q8_0(s, q.data(), d.data(), out.data(), n);
      int wrong = 0;
      for (int64_t i = 0; i < n * 32; ++i) wrong += out[size_t(i)] != float(q[size_t(i)]) * d[size_t(i / 32)];
      BOOST_TEST(wrong == 0, simd_level_name(s) << ", " << n << " blocks: " << wrong << " values differ");
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
  set_openblas_threads(pool);
  // Other dtypes and recorded forwards take libtorch's conversion: the same values, rounded once.
  BOOST_TEST(torch::equal(w.widened(torch::kBFloat16), expected.to(torch::kBFloat16)));
}
