// QK normalisation + rotary embedding in one pass (rms_norm_rope.hpp, layers/qk_norm.hpp norm_and_rotate): the
// kernel at every vector instruction set against the formula in double, and the tensor function against BFL's
// steps (RMSNorm, cat, apply_rotary), which it replaces for float32 on the CPU.
//
// Bound, relative to the row's largest normalised value max|a|: the sum of squares (positive terms: lane sums
// of dim / W terms, then W lanes) is within (dim / W + W) eps of itself, at most 36 eps = 2.2e-6 for 128 values
// in the baseline's 4 lanes; r = 1 / sqrt(mean + eps) takes half of that plus 2 eps; a = x r scale two roundings
// more; the rotation's two products and sum ~2 eps of |a_2k| + |a_2k+1| <= sqrt(2) max|a|. So <= 3e-6 max|a|,
// and 6e-6 max|a| between the kernel and libtorch's steps (each within its own bound).
#define BOOST_TEST_MODULE rms_norm_rope
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <random>
#include <vector>

#include <genplug/flux/blas_threads.hpp>

#include "layers/qk_norm.hpp"
#include "rms_norm_rope.hpp"
#include "simd_levels_here.hpp"

using namespace genplug::flux;

namespace {
// The largest |out - ref| of each row over the row's largest |a|, worst over the rows.
double worst_row_error(const torch::Tensor& out, const torch::Tensor& ref, const torch::Tensor& a) {
  const torch::Tensor err = (out.to(torch::kFloat64) - ref).abs().amax(-1);
  return (err / a.abs().amax(-1)).max().item<double>();
}
}  // namespace

// Rows of 128 (FLUX), 16 and 6 values (ragged against every lane width), strided input rows, scales far from 1.
BOOST_AUTO_TEST_CASE(the_kernel_is_the_formula_at_every_level) {
  torch::manual_seed(5);
  for (int64_t dim : {128, 16, 6}) {
    const int64_t rows = 37;
    const torch::Tensor wide = torch::randn({rows, dim + 10}) * 4.0;
    const torch::Tensor x = wide.narrow(1, 3, dim);
    const torch::Tensor scale = torch::rand({dim}) * 2.0 + 0.1;
    const torch::Tensor angle = torch::rand({rows, dim / 2}) * 6.3;
    const torch::Tensor cos = angle.cos().contiguous(), sin = angle.sin().contiguous();
    // In double: r, a, then each pair rotated.
    const torch::Tensor x64 = x.to(torch::kFloat64);
    const torch::Tensor a = x64 * torch::rsqrt(x64.pow(2).mean(-1, true) + 1e-6) * scale.to(torch::kFloat64);
    const torch::Tensor a0 = a.slice(1, 0, dim, 2), a1 = a.slice(1, 1, dim, 2);
    const torch::Tensor c = cos.to(torch::kFloat64), s = sin.to(torch::kFloat64);
    const torch::Tensor ref = torch::stack({c * a0 - s * a1, s * a0 + c * a1}, -1).reshape({rows, dim});
    for (SimdLevel level : genplug::test::simd_levels_here()) {
      torch::Tensor out = torch::full({rows, dim}, -7.0f);
      rms_norm_rope(level, x.data_ptr<float>(), x.stride(0), rows, dim, scale.data_ptr<float>(), cos.data_ptr<float>(),
                    sin.data_ptr<float>(), out.data_ptr<float>());
      const double worst = worst_row_error(out, ref, a);
      BOOST_TEST(worst < 3e-6, simd_level_name(level) << ", dim " << dim << ": " << worst);
    }
  }
}

// Two streams (the double block's txt and img, views of their qkv products as split_qkv gives them) against
// BFL's steps; the same output whether the planes run on one thread or two; recording autograd takes BFL's steps.
BOOST_AUTO_TEST_CASE(norm_and_rotate_is_bfls_steps) {
  torch::manual_seed(9);
  const int64_t B = 2, heads = 3, D = 128, Lt = 5, Li = 40;
  const torch::Tensor txt_qkv = torch::randn({B, Lt, 3 * heads * D}), img_qkv = torch::randn({B, Li, 3 * heads * D}) * 3.0;
  const auto tq = layers::split_qkv(txt_qkv, heads), iq = layers::split_qkv(img_qkv, heads);
  const layers::RMSNorm txt_norm{torch::rand({D}) + 0.5}, img_norm{torch::rand({D}) + 0.5};
  const torch::Tensor angle = torch::rand({Lt + Li, D / 2}) * 6.3;
  const RotaryTables pe{angle.cos().contiguous(), angle.sin().contiguous()};
  const torch::Tensor bfl = apply_rotary(torch::cat({txt_norm(tq[0]), img_norm(iq[0])}, 2), pe);
  const torch::Tensor a = torch::cat({txt_norm(tq[0]), img_norm(iq[0])}, 2);
  const std::vector<layers::NormedStream> streams{{txt_norm, tq[0]}, {img_norm, iq[0]}};
  BOOST_REQUIRE(layers::own_norm_rope_applies(streams, pe, torch::kFloat32));

  const int pool_before = openblas_threads();
  if (pool_before > 0) set_openblas_threads(1);
  const torch::Tensor one = layers::norm_and_rotate(streams, pe, torch::kFloat32);
  if (pool_before > 0) set_openblas_threads(2);
  const torch::Tensor two = layers::norm_and_rotate(streams, pe, torch::kFloat32);
  if (pool_before > 0) set_openblas_threads(pool_before);
  BOOST_TEST(one.is_contiguous());
  BOOST_TEST(worst_row_error(one, bfl.to(torch::kFloat64), a) < 6e-6, worst_row_error(one, bfl.to(torch::kFloat64), a));
  BOOST_TEST(torch::equal(one, two));

  const torch::Tensor g = tq[0].detach().clone().requires_grad_(true);
  const std::vector<layers::NormedStream> recorded{{txt_norm, g}};
  BOOST_TEST(!layers::own_norm_rope_applies(recorded, RotaryTables{pe.cos.narrow(0, 0, Lt).contiguous(),
                                                                  pe.sin.narrow(0, 0, Lt).contiguous()},
                                            torch::kFloat32));
  const RotaryTables txt_pe{pe.cos.narrow(0, 0, Lt).contiguous(), pe.sin.narrow(0, 0, Lt).contiguous()};
  BOOST_TEST(layers::norm_and_rotate(recorded, txt_pe, torch::kFloat32).requires_grad());
}
