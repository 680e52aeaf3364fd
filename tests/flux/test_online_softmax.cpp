// The online softmax step of the blocked attention (online_softmax.hpp), at every vector instruction set this
// CPU runs: its exp against std::exp, one block against the softmax computed in double, two blocks against one,
// and the instruction sets against each other.
#define BOOST_TEST_MODULE online_softmax
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "online_softmax.hpp"
#include "simd_levels_here.hpp"

using namespace genplug::flux;

namespace {
std::vector<float> random_row(size_t n, uint32_t seed, float spread) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, spread);
  std::vector<float> r(n);
  for (float& x : r) x = d(gen);
  return r;
}

struct RowState {
  std::vector<float> m, l, alpha;
  explicit RowState(size_t rows)
      : m(rows, -std::numeric_limits<float>::infinity()), l(rows, 0.0f), alpha(rows, -1.0f) {}
};
}  // namespace

BOOST_AUTO_TEST_CASE(the_chosen_level_runs_here) {
  BOOST_TEST(cpu_supports(simd_level()));
  for (SimdLevel s : genplug::test::simd_levels_here()) BOOST_TEST_MESSAGE("testing " << simd_level_name(s));
}

// With m = 0 and every score <= 0 a row becomes exp(score). Cephes' polynomial is within 1.2e-7 of exp(r) and
// the argument reduction adds ~1 ulp (6e-8) per rounding of r: 4 ulp (4.8e-7) bounds the relative error.
BOOST_AUTO_TEST_CASE(exp_is_within_four_ulp) {
  std::vector<float> x;
  for (float v = -87.0f; v <= 0.0f; v += 0.0137f) x.push_back(v);
  x.push_back(0.0f);
  for (SimdLevel s : genplug::test::simd_levels_here()) {
    std::vector<float> row = x;
    float m = 0.0f, l = 0.0f, alpha = 0.0f;
    online_softmax_block(s, row.data(), 1, int64_t(row.size()), 0, &m, &l, &alpha);
    double worst = 0.0, sum = 0.0;
    for (size_t j = 0; j < x.size(); ++j) {
      const double ref = std::exp(double(x[j]));
      worst = std::max(worst, std::abs(row[j] - ref) / ref);
      sum += ref;
    }
    BOOST_TEST(worst < 4.8e-7, simd_level_name(s) << ": " << worst);
    BOOST_TEST(alpha == 1.0f);  // exp(0 - 0)
    BOOST_TEST(std::abs(l - sum) / sum < 1e-6);
  }
}

// Rows of every ragged width around the vector lengths, scores as sharp as FLUX's (spread 8): m is the row's max,
// l its sum of exponentials, and row / l the softmax within 1e-6 (float sums of <= 70 terms: ~70 * 6e-8 worst).
BOOST_AUTO_TEST_CASE(one_block_is_the_softmax) {
  for (SimdLevel s : genplug::test::simd_levels_here()) {
    for (int64_t cols = 1; cols <= 70; ++cols) {
      const int64_t rows = 3, stride = cols + 5;  // a stride past the row: the gap stays untouched
      std::vector<float> block = random_row(size_t(rows * stride), uint32_t(cols), 8.0f);
      const std::vector<float> before = block;
      RowState st(rows);
      online_softmax_block(s, block.data(), rows, cols, stride, st.m.data(), st.l.data(), st.alpha.data());
      for (int64_t r = 0; r < rows; ++r) {
        const float* in = before.data() + r * stride;
        const double mx = *std::max_element(in, in + cols);
        double sum = 0.0;
        for (int64_t j = 0; j < cols; ++j) sum += std::exp(double(in[j]) - mx);
        BOOST_TEST(st.m[size_t(r)] == float(mx));
        BOOST_TEST(st.alpha[size_t(r)] < 1e-37f);  // the first block: nothing earlier to rescale
        BOOST_TEST(std::abs(st.l[size_t(r)] - sum) / sum < 1e-6);
        for (int64_t j = 0; j < cols; ++j) {
          const double p = std::exp(double(in[j]) - mx) / sum;
          BOOST_TEST(std::abs(block[size_t(r * stride + j)] / st.l[size_t(r)] - p) < 1e-6);
        }
        for (int64_t j = cols; j < stride; ++j) BOOST_TEST(block[size_t(r * stride + j)] == in[j]);
      }
    }
  }
}

// Two blocks with the running state give the one-block max and sum; the first block's values, rescaled by the
// second call's alpha, are the one-block values.
BOOST_AUTO_TEST_CASE(two_blocks_equal_one) {
  const std::vector<float> row = random_row(100, 5, 8.0f);
  for (SimdLevel s : genplug::test::simd_levels_here()) {
    std::vector<float> whole = row;
    RowState one(1), two(1);
    online_softmax_block(s, whole.data(), 1, 100, 100, one.m.data(), one.l.data(), one.alpha.data());
    std::vector<float> split = row;
    online_softmax_block(s, split.data(), 1, 37, 37, two.m.data(), two.l.data(), two.alpha.data());
    online_softmax_block(s, split.data() + 37, 1, 63, 63, two.m.data(), two.l.data(), two.alpha.data());
    BOOST_TEST(two.m[0] == one.m[0]);
    BOOST_TEST(std::abs(two.l[0] - one.l[0]) / one.l[0] < 1e-6);
    for (size_t j = 0; j < 37; ++j) BOOST_TEST(std::abs(split[j] * two.alpha[0] - whole[j]) < 1e-6f * one.l[0]);
    for (size_t j = 37; j < 100; ++j) BOOST_TEST(split[j] == whole[j]);  // same max: the same exponentials
  }
}

// The instruction sets compute the same formula; they differ only where FMA contracts a rounding (a few ulp).
BOOST_AUTO_TEST_CASE(levels_agree) {
  const std::vector<float> row = random_row(1000, 9, 8.0f);
  std::vector<float> reference = row;
  RowState ref(1);
  online_softmax_block(SimdLevel::baseline, reference.data(), 1, 1000, 1000, ref.m.data(), ref.l.data(),
                       ref.alpha.data());
  for (SimdLevel s : genplug::test::simd_levels_here()) {
    std::vector<float> out = row;
    RowState st(1);
    online_softmax_block(s, out.data(), 1, 1000, 1000, st.m.data(), st.l.data(), st.alpha.data());
    for (size_t j = 0; j < out.size(); ++j) BOOST_TEST(std::abs(out[j] - reference[j]) <= 4.8e-7f * reference[j]);
    BOOST_TEST(std::abs(st.l[0] - ref.l[0]) / ref.l[0] < 1e-6);
  }
}
