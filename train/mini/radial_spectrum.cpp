#include "radial_spectrum.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "fft.hpp"

namespace genplug::mini {
namespace {

constexpr int bins_per_cycle = 2 * radial_bin_count;  // 128: bin width 1/128 cycles/px

// The signed frequency index of DFT index i of n: i for i <= n/2, else i - n.
std::int64_t signed_index(int i, int n) { return i <= n / 2 ? i : i - n; }

// The bin of frequency (k_x / W, k_y / H), or -1 for rho = 0 or rho > 1/2. Decided in integers, so radii exactly
// on a bin edge (1/p for p dividing 128, at every size) go to the lower bin whatever the rounding:
// (128 rho W H)^2 = 128^2 (k_x^2 H^2 + k_y^2 W^2), and b is the least b with that <= ((b + 1) W H)^2.
int bin_of_frequency(std::int64_t kx, std::int64_t ky, std::int64_t width, std::int64_t height) {
  const std::int64_t scaled = std::int64_t{bins_per_cycle} * bins_per_cycle *
                              (kx * kx * height * height + ky * ky * width * width);
  const std::int64_t area_squared = width * height * width * height;
  if (scaled == 0 || scaled > std::int64_t{radial_bin_count} * radial_bin_count * area_squared) return -1;
  int b = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(scaled) / static_cast<double>(area_squared)))) - 1;
  b = std::clamp(b, 0, radial_bin_count - 1);
  while (b > 0 && scaled <= std::int64_t{b} * b * area_squared) --b;
  while (scaled > std::int64_t{b + 1} * (b + 1) * area_squared) ++b;
  return b;
}

// mean over x < n of w(x)^2.
double mean_squared_hann(int n) {
  double sum = 0;
  for (int x = 0; x < n; ++x) sum += hann_weight(x, n) * hann_weight(x, n);
  return sum / n;
}

// (Y - mean Y) w(x) w(y) as complex samples, row-major.
std::vector<Complex> windowed_luma(const Image& image) {
  std::vector<double> y = luma(image);
  double mean = 0;
  for (double v : y) mean += v;
  mean /= static_cast<double>(y.size());
  std::vector<double> column_weight(image.width), row_weight(image.height);
  for (int x = 0; x < image.width; ++x) column_weight[x] = hann_weight(x, image.width);
  for (int r = 0; r < image.height; ++r) row_weight[r] = hann_weight(r, image.height);
  std::vector<Complex> samples(y.size());
  for (int r = 0; r < image.height; ++r)
    for (int x = 0; x < image.width; ++x) {
      const std::size_t i = static_cast<std::size_t>(r) * image.width + x;
      samples[i] = (y[i] - mean) * row_weight[r] * column_weight[x];
    }
  return samples;
}

}  // namespace

std::vector<double> luma(const Image& image) {
  std::vector<double> y(image.plane_size());
  const std::size_t n = image.plane_size();
  for (std::size_t i = 0; i < n; ++i) {
    const double v = 0.2126 * image.planar[i] + 0.7152 * image.planar[n + i] + 0.0722 * image.planar[2 * n + i];
    y[i] = std::clamp(v, 0.0, 1.0);
  }
  return y;
}

double hann_weight(int x, int n) {
  constexpr double two_pi = 6.283185307179586;
  return 0.5 - 0.5 * std::cos(two_pi * (x + 0.5) / n);
}

RadialSpectrum radial_spectrum(const Image& image) {
  const int width = image.width, height = image.height;
  if (width < 1 || height < 1 || static_cast<std::int64_t>(width) * height > (std::int64_t{1} << 24))
    throw std::invalid_argument("radial_spectrum: " + std::to_string(width) + " x " + std::to_string(height) +
                                " is empty or over 2^24 pixels");
  std::vector<Complex> f = windowed_luma(image);
  fft_2d(f, width, height);  // throws for sizes other than 2^a 3^b
  const double normaliser = static_cast<double>(width) * height * mean_squared_hann(width) * mean_squared_hann(height);
  RadialSpectrum sum{}, count{};
  for (int r = 0; r < height; ++r)
    for (int x = 0; x < width; ++x) {
      const int b = bin_of_frequency(signed_index(x, width), signed_index(r, height), width, height);
      if (b < 0) continue;
      sum[b] += std::norm(f[static_cast<std::size_t>(r) * width + x]) / normaliser;
      count[b] += 1;
    }
  RadialSpectrum spectrum;
  for (int b = 0; b < radial_bin_count; ++b)
    spectrum[b] = count[b] > 0 ? sum[b] / count[b] : std::numeric_limits<double>::quiet_NaN();
  return spectrum;
}

int radial_bin_of(double rho) {
  if (!(rho > 0.0 && rho <= 0.5)) return -1;
  return static_cast<int>(std::ceil(bins_per_cycle * rho)) - 1;
}

double band_log_ratio(const RadialSpectrum& generated, const RadialSpectrum& reference, int first_bin, int last_bin) {
  if (first_bin < 0 || last_bin >= radial_bin_count || first_bin > last_bin)
    throw std::invalid_argument("band_log_ratio: bins [" + std::to_string(first_bin) + ", " + std::to_string(last_bin) +
                                "] outside [0, " + std::to_string(radial_bin_count - 1) + "]");
  double sum = 0;
  for (int b = first_bin; b <= last_bin; ++b) sum += std::log10(generated[b] / reference[b]);
  return sum / (last_bin - first_bin + 1);
}

double high_frequency_deviation(const RadialSpectrum& generated, const RadialSpectrum& reference) {
  return band_log_ratio(generated, reference, high_band_first_bin, high_band_last_bin);
}

double middle_frequency_deviation(const RadialSpectrum& generated, const RadialSpectrum& reference) {
  return band_log_ratio(generated, reference, middle_band_first_bin, middle_band_last_bin);
}

}  // namespace genplug::mini
