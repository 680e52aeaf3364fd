// GELU-tanh (gelu_tanh.hpp and layers/gelu.hpp): the kernel at every vector instruction set this CPU runs against
// the formula in double, and the tensor functions against libtorch's gelu(approximate="tanh").
//
// Bound: the kernel computes y = x s with s = 1 / (1 + exp(a)), a = x (A + B x^2). a carries ~2.5 ulp of
// rounding (3e-7 of |a|), exp 4 ulp (4.8e-7), and both reach s scaled by s (1 - s) <= 1/4, whose maximum with
// |a| is 0.224; the division and 1 + e add ~1 ulp of s. So |s - s_exact| <= 0.25 * 4.8e-7 + 0.224 * 3e-7 +
// 1.2e-7 ~ 3.1e-7, and |y - gelu(x)| <= 5e-7 |x|. libtorch's 1 + tanh(u) is within ~1.2e-7 of 2 s, so the
// two agree within 1e-6 |x|.
#define BOOST_TEST_MODULE gelu_tanh
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include <genplug/flux/blas_threads.hpp>

#include "gelu_tanh.hpp"
#include "layers/gelu.hpp"
#include "simd_levels_here.hpp"

using namespace genplug::flux;

namespace {
double gelu64(double x) { return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))); }

// The worst of |y - ref| / max(|x|, 1e-30) over the values.
double worst_over_x(const std::vector<float>& x, const std::vector<float>& y, const std::vector<double>& ref) {
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i)
    worst = std::max(worst, std::abs(double(y[i]) - ref[i]) / std::max(std::abs(double(x[i])), 1e-30));
  return worst;
}
}  // namespace

BOOST_AUTO_TEST_CASE(the_kernel_is_the_formula_at_every_level) {
  std::vector<float> x;
  for (float v = -30.0f; v <= 30.0f; v += 0.00731f) x.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-3f, -1e-3f, 100.0f, -100.0f, 1e30f, -1e30f}) x.push_back(v);
  std::vector<double> ref(x.size());
  for (size_t i = 0; i < x.size(); ++i) ref[i] = gelu64(x[i]);
  for (SimdLevel s : genplug::test::simd_levels_here()) {
    for (size_t n : {x.size(), size_t(1), size_t(7), size_t(17), size_t(33)}) {  // ragged ends of every width
      std::vector<float> y(n, -1.0f);
      gelu_tanh(s, x.data(), y.data(), int64_t(n));
      const std::vector<float> xs(x.begin(), x.begin() + long(n));
      const double worst = worst_over_x(xs, y, std::vector<double>(ref.begin(), ref.begin() + long(n)));
      BOOST_TEST(worst < 5e-7, simd_level_name(s) << ", " << n << " values: " << worst);
    }
  }
}

BOOST_AUTO_TEST_CASE(infinities_and_nan_follow_the_formula) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (SimdLevel s : genplug::test::simd_levels_here()) {
    std::vector<float> x{inf, nan, 0.0f}, y(3);
    gelu_tanh(s, x.data(), y.data(), 3);
    BOOST_TEST(y[0] == inf, simd_level_name(s));
    BOOST_TEST(std::isnan(y[1]), simd_level_name(s));
    BOOST_TEST(y[2] == 0.0f, simd_level_name(s));
  }
}

// The tensor functions: over strided rows (a narrow() of a wider tensor, as the single-stream block's MLP half
// is), split over threads (OpenBLAS's pool set to 2, enough values for two), and into a concatenation.
BOOST_AUTO_TEST_CASE(tensors_match_libtorch_and_threads_do_not_change_values) {
  torch::manual_seed(3);
  const torch::Tensor wide = torch::randn({2, 300, 500}) * 3.0;
  const torch::Tensor x = wide.narrow(-1, 120, 380);  // rows of 380 values 500 apart: 228 000 values
  const torch::Tensor expected = torch::gelu(x, "tanh");
  auto worst = [&](const torch::Tensor& y) {
    return ((y - expected).abs() / x.abs().clamp_min(1e-30)).max().item<double>();
  };
  const int pool_before = openblas_threads();
  if (pool_before > 0) set_openblas_threads(1);
  const torch::Tensor one = layers::gelu_tanh(x);
  if (pool_before > 0) set_openblas_threads(2);
  const torch::Tensor two = layers::gelu_tanh(x);
  if (pool_before > 0) set_openblas_threads(pool_before);
  BOOST_TEST(worst(one) < 1e-6, worst(one));
  BOOST_TEST(torch::equal(one, two));
  const torch::Tensor a = torch::randn({2, 300, 64});
  const torch::Tensor joined = layers::cat_gelu(a, x);
  BOOST_TEST(torch::equal(joined.narrow(-1, 0, 64), a));
  BOOST_TEST(torch::equal(joined.narrow(-1, 64, 380), one));
  torch::Tensor in_place = x.contiguous();
  const float* storage = in_place.data_ptr<float>();
  in_place = layers::gelu_tanh_(in_place);
  BOOST_TEST(in_place.data_ptr<float>() == storage);
  BOOST_TEST(torch::equal(in_place, one));
  // Recording autograd: libtorch's own, differentiable.
  const torch::Tensor g = x.detach().clone().requires_grad_(true);
  const torch::Tensor recorded = layers::gelu_tanh(g);
  BOOST_TEST(recorded.requires_grad());
  BOOST_TEST(torch::equal(recorded.detach(), torch::gelu(g.detach(), "tanh")));
}
