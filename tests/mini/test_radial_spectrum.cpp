// The radially averaged power spectrum and its band log-ratios (hf_dev, mf_dev) on exact renders, on blurred and
// noisy copies of them, on white noise (the normalisation) and on sinusoids (the radius of each bin), at the
// square and the 4:1 / 1:3 sizes of the DyPE benchmark.
#define BOOST_TEST_MODULE radial_spectrum
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "radial_spectrum.hpp"
#include "degraded_images.hpp"
#include "rng.hpp"
#include "sanitizer_share.hpp"
#include "scene_render.hpp"
#include "scene_sampler.hpp"

namespace mini = genplug::mini;
using genplug::test::blurred;
using genplug::test::with_noise;
using genplug::test::standard_normal;

namespace {

constexpr double two_pi = 6.283185307179586;

struct Size {
  int width, height;
};
std::string name_of(Size s) { return std::to_string(s.width) + "x" + std::to_string(s.height); }

// The benchmark's shapes: 1x, 4x, 4x1 and 1x3.
const Size bench_sizes[] = {{128, 128}, {512, 512}, {512, 128}, {128, 384}};

// A grey picture (R = G = B, so Y equals it) filled by value(row, column), called once per pixel.
template <class F>
mini::Image grey(Size size, F value) {
  mini::Image image(size.width, size.height);
  for (int y = 0; y < size.height; ++y)
    for (int x = 0; x < size.width; ++x) {
      const float v = static_cast<float>(value(y, x));
      for (int c = 0; c < 3; ++c) image.at(c, y, x) = v;
    }
  return image;
}

int peak_bin(const mini::RadialSpectrum& spectrum) {
  return static_cast<int>(std::max_element(spectrum.begin(), spectrum.end()) - spectrum.begin());
}

}  // namespace

BOOST_AUTO_TEST_CASE(bins_are_right_closed_intervals_of_width_1_128) {
  BOOST_TEST(mini::radial_bin_of(1.0 / 128) == 0);
  BOOST_TEST(mini::radial_bin_of(std::nextafter(1.0 / 128, 1.0)) == 1);
  BOOST_TEST(mini::radial_bin_of(1.0 / 8) == 15);  // the middle band's last bin
  BOOST_TEST(mini::radial_bin_of(std::nextafter(1.0 / 8, 1.0)) == mini::high_band_first_bin);
  BOOST_TEST(mini::radial_bin_of(1.0 / 64) == 1);  // below the middle band's first bin, 2
  BOOST_TEST(mini::radial_bin_of(0.5) == 63);
  BOOST_TEST(mini::radial_bin_of(0.0) == -1);
  BOOST_TEST(mini::radial_bin_of(std::nextafter(0.5, 1.0)) == -1);
}

// Per render: the spectrum has a finite positive value in every bin (the edges of objects and patterns carry
// power at all frequencies), so the render against itself gives exactly 0; a 5 x 5 box blur multiplies the
// spectrum by |H(f_x) H(f_y)|^2 with H(f) = sin(5 pi f) / (5 sin(pi f)), which on rho > 1/8 (one of |f_x|,
// |f_y| >= rho / sqrt 2 > 0.088) is at most 0.52, so hf_dev < 0; noise adds its variance (about 0.005 in Y) to
// every P, far above a render's own fine detail, so hf_dev > 0.
BOOST_AUTO_TEST_CASE(render_vs_itself_blurred_and_noisy_at_the_bench_sizes) {
  for (Size size : bench_sizes) {
    double most_blur = -1e9, least_noise = 1e9;
    for (std::uint64_t seed = 0; seed < genplug::test::sanitizer_share(16); ++seed) {
      BOOST_TEST_CONTEXT("seed " << seed << " at " << name_of(size)) {
        const mini::Image exact = mini::render_scene(mini::sample_scene(seed), size.width, size.height);
        const mini::RadialSpectrum real = mini::radial_spectrum(exact);
        BOOST_TEST(std::all_of(real.begin(), real.end(), [](double p) { return std::isfinite(p) && p > 0; }));
        BOOST_TEST(mini::high_frequency_deviation(real, real) == 0.0);
        BOOST_TEST(mini::middle_frequency_deviation(real, real) == 0.0);
        const double blur = mini::high_frequency_deviation(mini::radial_spectrum(blurred(exact, 2)), real);
        const double noise = mini::high_frequency_deviation(mini::radial_spectrum(with_noise(exact, 0.1, seed)), real);
        BOOST_TEST(blur < 0.0);
        BOOST_TEST(noise > 0.0);
        most_blur = std::max(most_blur, blur), least_noise = std::min(least_noise, noise);
      }
    }
    BOOST_TEST_MESSAGE(name_of(size) << ": blur r=2 hf_dev <= " << most_blur << ", noise 0.1 hf_dev >= " << least_noise);
  }
}

// White noise of variance s^2 has E[P(k)] = s^2 at every k != 0 (that is what the W H mean(w^2) normalisation is
// for). Each P is exponential-like (relative SD 1); the band holds about pi (1/4 - 1/64) W H values, half of
// them independent (Hermitian symmetry) and the Hann window correlates neighbours (a factor mean(w^4) /
// mean(w^2)^2 = 1.94 per axis), so the band mean has relative SD 1 / sqrt(N / (2 * 3.78)); 5 SD is the bound.
BOOST_AUTO_TEST_CASE(white_noise_has_its_variance_in_every_band) {
  const double sigma = 0.1;  // around 0.5, so clamping to [0,1] (5 sigma) changes nothing measurable
  for (Size size : bench_sizes) {
    mini::SplitMix64 rng(77);
    const mini::RadialSpectrum p = mini::radial_spectrum(grey(size, [&](int, int) { return 0.5 + sigma * standard_normal(rng); }));
    double band = 0;
    for (int b = mini::high_band_first_bin; b <= mini::high_band_last_bin; ++b) band += p[b];
    band /= mini::high_band_last_bin - mini::high_band_first_bin + 1;
    const double samples = two_pi / 2 * (0.25 - 1.0 / 64) * size.width * size.height;
    const double tolerance = 5.0 / std::sqrt(samples / (2 * 3.78));
    BOOST_TEST_MESSAGE(name_of(size) << ": high band mean / sigma^2 = " << band / (sigma * sigma) << " (tolerance "
                                     << tolerance << ")");
    BOOST_TEST(std::abs(band / (sigma * sigma) - 1.0) <= tolerance, name_of(size));
  }
}

// cos(2 pi (k_x x / W + k_y y / H)) has all its power at rho = hypot(k_x / W, k_y / H) (exactly, when k is a whole
// number) and the Hann window spreads it over the neighbouring k only (power 1/4 at +-1, 0 beyond), so the
// brightest bin is the one holding 1/p: axis-aligned periods p that divide the side, and a few diagonals.
BOOST_AUTO_TEST_CASE(a_sinusoid_peaks_in_the_bin_of_its_frequency) {
  const Size sizes[] = {{128, 128}, {384, 384}, {512, 128}, {128, 384}};
  const int periods[] = {2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64};
  for (Size size : sizes) {
    const auto check = [&](int kx, int ky) {
      const mini::Image wave = grey(size, [&](int y, int x) {
        return 0.5 + 0.25 * std::cos(two_pi * (static_cast<double>(kx) * x / size.width +
                                               static_cast<double>(ky) * y / size.height));
      });
      const double rho = std::hypot(static_cast<double>(kx) / size.width, static_cast<double>(ky) / size.height);
      BOOST_TEST(peak_bin(mini::radial_spectrum(wave)) == mini::radial_bin_of(rho),
                 name_of(size) << " k = (" << kx << ", " << ky << "), rho = " << rho);
    };
    for (int p : periods) {
      if (size.width % p == 0) check(size.width / p, 0);
      if (size.height % p == 0) check(0, size.height / p);
    }
    check(size.width / 16, size.height / 16);  // period 16 along both axes: rho = sqrt(2) / 16
    check(size.width / 8, -size.height / 32);
  }
}

BOOST_AUTO_TEST_CASE(sizes_other_than_2a_3b_throw_and_tiny_frames_leave_bins_empty) {
  BOOST_CHECK_THROW(mini::radial_spectrum(mini::Image(100, 128)), std::invalid_argument);
  BOOST_CHECK_THROW(mini::radial_spectrum(mini::Image(128, 80)), std::invalid_argument);
  // At 32 x 32 the smallest radius is 1/32 = 4/128, so bins 0-2 hold nothing; a 32 x 128 frame fills them all.
  mini::SplitMix64 rng(5);
  const mini::RadialSpectrum tiny = mini::radial_spectrum(grey({32, 32}, [&](int, int) { return rng.unit(); }));
  BOOST_TEST(std::isnan(tiny[0]));
  BOOST_TEST(std::isnan(tiny[2]));
  BOOST_TEST(std::isfinite(tiny[3]));
  const mini::RadialSpectrum tall = mini::radial_spectrum(grey({32, 128}, [&](int, int) { return rng.unit(); }));
  BOOST_TEST(std::all_of(tall.begin(), tall.end(), [](double p) { return std::isfinite(p); }));
  BOOST_CHECK_THROW(mini::band_log_ratio(tall, tall, 10, 64), std::invalid_argument);
}
