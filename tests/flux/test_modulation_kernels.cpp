// The modulation's per-token kernels (modulation_kernels.hpp; layers/modulation.hpp apply_norm and gated) and the
// linear layers' bias rows (layers/linear_product.hpp): each kernel at every vector instruction set against its
// formula in double, and the tensor functions against libtorch's layer_norm, addcmul and linear, which they
// replace for float32 on the CPU.
//
// Bound of modulated_layer_norm, per value, in units of u = 2^-24 (float rounding), with z = (x - mean) r the
// normalised value, o = 1 + scale and s = shift, for n values in W lanes (each lane sums n / W values in float, the
// lanes are added in double):
//   the mean is within (n / W + 1) u of sum |x| / n, and that error reaches z times r (the second pass's
//   correction removes most of it; not counted here);
//   the sum of squares (positive terms, each d^2 within 3 u) is within (n / W + 4) u of itself, r half of that
//   plus 1 u;
//   x - mean, the product with r, with o and the sum with s: 1 u each of |o z|, and 1 u of |s|.
// So |y - y_exact| <= u [(n / W + W + 8) (|o z| + |o| r mean|x|) + 2 |s|] with room to spare: 1.6e-5 of |o z| at
// n = 1 024 in the baseline's 4 lanes, far above what is met (~1e-7) and below what a wrong formula gives (a
// variance over n - 1 at n = 3 072: ~1.7 times the bound at |z| = 3; no eps where the variance is eps: 40 %).
// A NaN anywhere, or a value written past the row, fails.
// gated_residual: y = x + g y, one product and one sum (or one fused multiply-add): within 2 u (|x| + |g y|).
#define BOOST_TEST_MODULE modulation_kernels
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <genplug/flux/blas_threads.hpp>

#include "layers/linear_product.hpp"
#include "layers/modulation.hpp"
#include "modulation_kernels.hpp"
#include "simd_levels_here.hpp"

using namespace genplug::flux;

namespace {

constexpr double kU = 5.9604644775390625e-8;  // 2^-24
constexpr double kEps = 1e-6;

int lanes(SimdLevel s) { return s == SimdLevel::avx512 ? 16 : s == SimdLevel::avx2 ? 8 : 4; }

// The worst |y - y_exact| / bound over one row, the bound as in the header.
double worst_norm_row(SimdLevel level, const std::vector<float>& x, const std::vector<float>& ops,
                      const std::vector<float>& shift) {
  const size_t n = x.size();
  std::vector<float> y(n + 16, -7.0f);  // 16 guard values past the row, which the kernel must not write
  modulated_layer_norm(level, x.data(), ops.data(), shift.data(), float(kEps), y.data(), int64_t(n));
  for (size_t c = n; c < y.size(); ++c)
    if (y[c] != -7.0f) return 1e30;
  double mean = 0.0, abs_mean = 0.0, var = 0.0;
  for (float v : x) mean += v, abs_mean += std::abs(double(v));
  mean /= double(n), abs_mean /= double(n);
  for (float v : x) var += (v - mean) * (v - mean);
  const double r = 1.0 / std::sqrt(var / double(n) + kEps), W = lanes(level);
  double worst = 0.0;
  for (size_t c = 0; c < n; ++c) {
    const double z = (x[c] - mean) * r, exact = z * ops[c] + shift[c];
    const double bound =
        kU * ((double(n) / W + W + 8) * (std::abs(ops[c] * z) + std::abs(ops[c]) * r * abs_mean) +
              2 * std::abs(shift[c]));
    const double ratio = std::abs(y[c] - exact) / bound;
    if (!(ratio <= worst)) worst = ratio;  // NaN too
  }
  return worst;
}

std::vector<float> normal(size_t n, double mean, double stddev, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> d(mean, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = float(d(gen));
  return v;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_norm_kernel_is_the_formula_at_every_level) {
  for (SimdLevel s : genplug::test::simd_levels_here())
    for (size_t n : {size_t(1), size_t(3), size_t(17), size_t(64), size_t(1000), size_t(1024), size_t(3072)})
      for (double stddev : {1.0, 1e-3, 40.0}) {  // 1e-3: the variance is eps, which must count
        const auto x = normal(n, 3.0 * stddev, stddev, unsigned(n)), ops = normal(n, 1.0, 0.3, 7),
                   shift = normal(n, 0.0, 0.5, 8);
        const double worst = worst_norm_row(s, x, ops, shift);
        BOOST_TEST(worst <= 1.0, simd_level_name(s) << ", " << n << " values, stddev " << stddev << ": " << worst);
      }
}

BOOST_AUTO_TEST_CASE(the_gate_kernel_is_the_formula_at_every_level) {
  for (SimdLevel s : genplug::test::simd_levels_here())
    for (size_t n : {size_t(1), size_t(9), size_t(33), size_t(1024)}) {
      const auto x = normal(n, 0.0, 2.0, 1), gate = normal(n, 0.0, 1.0, 2), branch = normal(n, 0.0, 3.0, 3);
      std::vector<float> y = branch;
      y.resize(n + 16, -7.0f);  // guard values past the row
      gated_residual(s, x.data(), gate.data(), y.data(), int64_t(n));
      double worst = 0.0;
      for (size_t c = 0; c < n; ++c) {
        const double gy = double(gate[c]) * branch[c];
        const double ratio = std::abs(y[c] - (x[c] + gy)) / (2 * kU * (std::abs(x[c]) + std::abs(gy)));
        if (!(ratio <= worst)) worst = ratio;  // NaN too
      }
      for (size_t c = n; c < y.size(); ++c) BOOST_TEST(y[c] == -7.0f, simd_level_name(s) << ": wrote past the row");
      BOOST_TEST(worst <= 1.0, simd_level_name(s) << ", " << n << " values: " << worst);
    }
}

// The tensor functions on [B, L, H] rows read through a narrow() (as the blocks' token runs are), B = 2 with a
// modulation of its own per batch (chunks of one product, as Modulation makes them), split over one and two
// threads: within the kernel's bound of libtorch's steps in double, the same values on any number of threads,
// and libtorch's own steps for a dtype the kernels do not take and under autograd recording.
BOOST_AUTO_TEST_CASE(tensors_match_libtorch_in_double_and_threads_do_not_change_values) {
  torch::manual_seed(11);
  const int64_t B = 2, L = 300, H = 384;
  const torch::Tensor wide = torch::randn({B, L + 20, H}) * 2.0 + 0.5;
  const torch::Tensor x = wide.narrow(1, 10, L);
  const auto chunks = (torch::randn({B, 3 * H}) * 0.4).unsqueeze(1).chunk(3, -1);
  const layers::ModulationOut m{chunks[0], chunks[1], chunks[2]};
  const torch::Tensor branch = torch::randn({B, L, H});

  const auto d = [](const torch::Tensor& t) { return t.to(torch::kFloat64); };
  const torch::Tensor ref_norm = torch::addcmul(d(m.shift), 1 + d(m.scale), torch::layer_norm(d(x), {H}, {}, {}, kEps));
  const torch::Tensor ref_gated = torch::addcmul(d(x), d(m.gate), d(branch));

  const int pool_before = openblas_threads();
  std::vector<torch::Tensor> norms, gates;
  for (int threads : {1, 2}) {
    if (pool_before > 0) set_openblas_threads(threads);
    norms.push_back(m.apply_norm(x));
    gates.push_back(m.gated(x, branch.clone()));
  }
  if (pool_before > 0) set_openblas_threads(pool_before);
  BOOST_TEST(torch::equal(norms[0], norms[1]));
  BOOST_TEST(torch::equal(gates[0], gates[1]));
  // The bound of the header at 4 lanes, n = H, with |x| <= 4 sigma + |mean| in units of the row's r.
  const double norm_err = (d(norms[0]) - ref_norm).abs().max().item<double>();
  const double norm_scale = (1 + d(m.scale)).abs().max().item<double>() * 8.0 + d(m.shift).abs().max().item<double>();
  BOOST_TEST(norm_err <= kU * (double(H) / 4 + 12) * norm_scale, norm_err);
  const double gate_err = ((d(gates[0]) - ref_gated).abs() / (2 * kU * (d(x).abs() + (d(m.gate) * d(branch)).abs())))
                              .max()
                              .item<double>();
  BOOST_TEST(gate_err <= 1.0, gate_err);

  // A NaN or an infinity in a row makes the whole row NaN, as libtorch's layer_norm does; other rows are untouched.
  torch::Tensor bad = x.clone();
  bad[0][3][7] = std::numeric_limits<float>::quiet_NaN();
  bad[1][5][0] = std::numeric_limits<float>::infinity();
  const torch::Tensor normed_bad = m.apply_norm(bad);
  BOOST_TEST(normed_bad[0][3].isnan().all().item<bool>());
  BOOST_TEST(normed_bad[1][5].isnan().all().item<bool>());
  BOOST_TEST(torch::equal(normed_bad[0][4], norms[0][0][4]));
  const torch::Tensor libtorch_bad = torch::addcmul(m.shift, 1 + m.scale, torch::layer_norm(bad, {H}, {}, {}, kEps));
  BOOST_TEST(libtorch_bad[0][3].isnan().all().item<bool>());

  // The branch's storage is the result.
  torch::Tensor fresh = branch.clone();
  const float* storage = fresh.data_ptr<float>();
  BOOST_TEST(m.gated(x, std::move(fresh)).data_ptr<float>() == storage);

  // float64: libtorch's steps, exactly.
  const layers::ModulationOut m64{d(m.shift), d(m.scale), d(m.gate)};
  BOOST_TEST(torch::equal(m64.apply_norm(d(x)), ref_norm));
  BOOST_TEST(torch::equal(m64.gated(d(x), d(branch)), ref_gated));
  // Recording autograd: libtorch's own steps, differentiable.
  const torch::Tensor g = x.detach().clone().requires_grad_(true);
  const torch::Tensor recorded = m.apply_norm(g);
  BOOST_TEST(recorded.requires_grad());
  BOOST_TEST(torch::equal(recorded.detach(),
                          torch::addcmul(m.shift, 1 + m.scale, torch::layer_norm(x, {H}, {}, {}, kEps))));
}

// linear_product writes the bias rows itself, then adds the product into them as addmm does: torch::linear's
// values exactly, on one thread or two, for 2-D and 3-D inputs; linear itself without a bias or when recording.
BOOST_AUTO_TEST_CASE(linear_product_is_torch_linear) {
  torch::manual_seed(12);
  const torch::Tensor w = torch::randn({200, 96}), b = torch::randn({200});
  const int pool_before = openblas_threads();
  // 800 x 200 and 999 x 200 outputs: over 2 x 64 Ki values, so the bias rows are written by two threads.
  for (const torch::Tensor& x : {torch::randn({2, 400, 96}), torch::randn({999, 96})})
    for (int threads : {1, 2}) {
      if (pool_before > 0) set_openblas_threads(threads);
      const torch::Tensor y = layers::linear_product(x, w, b);
      BOOST_TEST(y.sizes() == torch::linear(x, w, b).sizes());
      BOOST_TEST(torch::equal(y, torch::linear(x, w, b)), "threads " << threads << ", dims " << x.dim());
    }
  if (pool_before > 0) set_openblas_threads(pool_before);
  const torch::Tensor x = torch::randn({5, 96});
  BOOST_TEST(torch::equal(layers::linear_product(x, w, torch::Tensor()), torch::linear(x, w)));
  const torch::Tensor recorded = layers::linear_product(x, w.clone().requires_grad_(true), b);
  BOOST_TEST(recorded.requires_grad());
  BOOST_CHECK_THROW(layers::linear_product(torch::randn({4, 95}), w, b), c10::Error);
  // 4-D: libtorch's linear itself (matmul, then the bias), the same values.
  const torch::Tensor x4 = torch::randn({2, 3, 5, 96});
  BOOST_TEST(torch::equal(layers::linear_product(x4, w, b), torch::linear(x4, w, b)));
}

// One row goes to a matrix-vector product, whose sums run in another order than the GEMM's. With small integers
// every product and partial sum is exact in float32 (|sum| <= 3 072 x 64 < 2^24), so any order gives the exact
// value: the row, the bias and the shape must be the right ones. With random floats each value is within the
// worst case of a sum of K products in any order, (K + 1) u (sum |w x| + |b|), of the sums in double.
BOOST_AUTO_TEST_CASE(one_row_is_a_matrix_vector_product) {
  torch::manual_seed(13);
  const int64_t out = 1'500, K = 3'072;
  const torch::Tensor wi = torch::randint(-8, 9, {out, K}, torch::kFloat32),
                      bi = torch::randint(-8, 9, {out}, torch::kFloat32);
  const int pool_before = openblas_threads();
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{1, K}, {1, 1, K}, {K}}) {
    const torch::Tensor xi = torch::randint(-8, 9, shape, torch::kFloat32);
    BOOST_TEST(layers::one_row_product_applies(xi, wi, bi));
    for (int threads : {1, 2}) {
      if (pool_before > 0) set_openblas_threads(threads);
      const torch::Tensor y = layers::linear_product(xi, wi, bi);
      BOOST_TEST(y.sizes() == torch::linear(xi, wi, bi).sizes());
      BOOST_TEST(torch::equal(y, torch::linear(xi, wi, bi)), "threads " << threads << ", dims " << xi.dim());
      BOOST_TEST(torch::equal(layers::linear_product(xi, wi, torch::Tensor()), torch::linear(xi, wi)));
    }
  }
  if (pool_before > 0) set_openblas_threads(pool_before);
  const torch::Tensor w = torch::randn({out, K}), b = torch::randn({out}), x = torch::randn({1, K});
  const torch::Tensor exact = torch::linear(x.to(torch::kDouble), w.to(torch::kDouble), b.to(torch::kDouble));
  const torch::Tensor bound =
      double(K + 1) * kU * (torch::linear(x.abs(), w.abs()).to(torch::kDouble) + b.abs().to(torch::kDouble));
  const torch::Tensor err = (layers::linear_product(x, w, b).to(torch::kDouble) - exact).abs();
  BOOST_TEST((err <= bound).all().item<bool>(), "worst error / bound " << (err / bound).max().item<double>());
  // Two rows, a weight being recorded, or another dtype: not this path.
  BOOST_TEST(!layers::one_row_product_applies(torch::randn({2, K}), w, b));
  BOOST_TEST(!layers::one_row_product_applies(x, w.clone().requires_grad_(true), b));
  BOOST_TEST(!layers::one_row_product_applies(x.to(torch::kDouble), w.to(torch::kDouble), b.to(torch::kDouble)));
}
