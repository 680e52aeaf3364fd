// The mixed-radix FFT against the definition: a naive O(n^2) DFT at every supported length up to 512, energy
// conservation (Parseval), the separable 2-D transform, and the lengths it refuses.
#define BOOST_TEST_MODULE mini_fft
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "fft.hpp"
#include "rng.hpp"

namespace mini = genplug::mini;
using mini::Complex;

namespace {

constexpr double two_pi = 6.283185307179586;

// Every 2^a 3^b <= limit, ascending.
std::vector<std::size_t> fft_lengths_up_to(std::size_t limit) {
  std::vector<std::size_t> lengths;
  for (std::size_t n = 1; n <= limit; ++n)
    if (mini::is_fft_length(n)) lengths.push_back(n);
  return lengths;
}

std::vector<Complex> random_values(std::size_t n, std::uint64_t seed) {
  mini::SplitMix64 rng(seed);
  std::vector<Complex> values(n);
  for (Complex& v : values) v = {2 * rng.unit() - 1, 2 * rng.unit() - 1};
  return values;
}

// X[k] = sum_j x[j] exp(-2 pi i j k / n), the twiddle from (j k mod n) so that its angle stays in [0, 2 pi).
std::vector<Complex> naive_dft(const std::vector<Complex>& x) {
  const std::size_t n = x.size();
  std::vector<Complex> out(n);
  for (std::size_t k = 0; k < n; ++k) {
    Complex sum = 0;
    for (std::size_t j = 0; j < n; ++j) sum += x[j] * std::polar(1.0, -two_pi * static_cast<double>(j * k % n) / n);
    out[k] = sum;
  }
  return out;
}

double max_abs(const std::vector<Complex>& v) {
  double m = 0;
  for (const Complex& c : v) m = std::max(m, std::abs(c));
  return m;
}

double max_abs_difference(const std::vector<Complex>& a, const std::vector<Complex>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

double energy(const std::vector<Complex>& v) {
  double sum = 0;
  for (const Complex& c : v) sum += std::norm(c);
  return sum;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_supported_lengths_are_exactly_2a_3b) {
  const std::vector<std::size_t> lengths = fft_lengths_up_to(512);
  const std::vector<std::size_t> expected = {1,  2,  3,  4,   6,   8,   9,   12,  16,  18,  24,  27,
                                             32, 36, 48, 54,  64,  72,  81,  96,  108, 128, 144, 162,
                                             192, 216, 243, 256, 288, 324, 384, 432, 486, 512};
  BOOST_TEST(lengths == expected, boost::test_tools::per_element());
  BOOST_TEST(!mini::is_fft_length(0));
}

// Both the FFT and the naive sum round each of their O(n) (naive) or O(log n) (FFT) additions at 2^-53
// relative, so their difference is at most about n * 1.1e-16 * max|X| = 6e-14 max|X| at n = 512 (error
// growth is in fact closer to sqrt(n)); 1e-10 leaves three orders of magnitude while a wrong twiddle or index
// (an O(1) error) fails by ten.
BOOST_AUTO_TEST_CASE(equals_the_naive_dft_at_every_length_up_to_512) {
  for (std::size_t n : fft_lengths_up_to(512)) {
    const std::vector<Complex> x = random_values(n, 1000 + n);
    std::vector<Complex> fast = x;
    mini::fft(fast);
    const std::vector<Complex> slow = naive_dft(x);
    BOOST_TEST(max_abs_difference(fast, slow) <= 1e-10 * max_abs(slow), "length " << n);
  }
}

// sum |X|^2 = n sum |x|^2. Rounding as above: relative 1e-12 is far above n * eps = 6e-14.
BOOST_AUTO_TEST_CASE(conserves_energy_parseval) {
  for (std::size_t n : fft_lengths_up_to(512)) {
    std::vector<Complex> x = random_values(n, 2000 + n);
    const double before = energy(x);
    mini::fft(x);
    BOOST_TEST(std::abs(energy(x) - n * before) <= 1e-12 * n * before, "length " << n);
  }
}

// The 2-D transform of a row-major W x H array is X[ky][kx] = sum x[y][x] exp(-2 pi i (kx x / W + ky y / H));
// tolerance as for 1-D, with W H terms per sum.
BOOST_AUTO_TEST_CASE(the_2d_transform_equals_the_naive_2d_dft) {
  const std::pair<int, int> sizes[] = {{1, 1}, {2, 3}, {12, 8}, {16, 9}, {27, 4}, {6, 32}};
  for (auto [w, h] : sizes) {
    const std::vector<Complex> x = random_values(static_cast<std::size_t>(w) * h, 3000 + 100 * w + h);
    std::vector<Complex> fast = x;
    mini::fft_2d(fast, w, h);
    std::vector<Complex> slow(x.size());
    for (int ky = 0; ky < h; ++ky)
      for (int kx = 0; kx < w; ++kx) {
        Complex sum = 0;
        for (int y = 0; y < h; ++y)
          for (int c = 0; c < w; ++c) {
            const double turns = static_cast<double>(kx * c % w) / w + static_cast<double>(ky * y % h) / h;
            sum += x[static_cast<std::size_t>(y) * w + c] * std::polar(1.0, -two_pi * turns);
          }
        slow[static_cast<std::size_t>(ky) * w + kx] = sum;
      }
    BOOST_TEST(max_abs_difference(fast, slow) <= 1e-10 * max_abs(slow), w << " x " << h);
  }
}

BOOST_AUTO_TEST_CASE(other_lengths_throw) {
  for (std::size_t n : {0, 5, 7, 10, 15, 25, 100, 511, 513, 1000}) {
    std::vector<Complex> x(n);
    BOOST_CHECK_THROW(mini::fft(x), std::invalid_argument);
  }
  std::vector<Complex> grid(100 * 64);
  BOOST_CHECK_THROW(mini::fft_2d(grid, 100, 64), std::invalid_argument);
  BOOST_CHECK_THROW(mini::fft_2d(grid, 64, 100), std::invalid_argument);
  BOOST_CHECK_THROW(mini::fft_2d(grid, 64, 64), std::invalid_argument);  // 6400 values for 64 x 64
  std::vector<Complex> supported(96 * 64);
  BOOST_CHECK_NO_THROW(mini::fft_2d(supported, 96, 64));
}
