// Fine detail of a picture (docs/dype-effect.md section 2.3): its radially averaged power spectrum (RAPS) and the
// log-ratio of two spectra over a frequency band, which says whether a picture is smoother (< 0) or noisier
// (> 0) than a reference of the same content and size.
#pragma once
#include <array>
#include <vector>

#include "image.hpp"

namespace genplug::mini {

// 64 bins of width 1/128 cycles/px on (0, 1/2]: bin b holds radii rho in (b/128, (b+1)/128].
inline constexpr int radial_bin_count = 64;
using RadialSpectrum = std::array<double, radial_bin_count>;

// The bands of the deviations, as bin ranges [first, last]: high (1/8, 1/2] (periods 2-8 px) and
// middle (1/64, 1/8] (periods 8-64 px, where the stripe and checker fundamentals lie at 2x-4x).
inline constexpr int high_band_first_bin = 16, high_band_last_bin = 63;
inline constexpr int middle_band_first_bin = 2, middle_band_last_bin = 15;

// Y = 0.2126 R + 0.7152 G + 0.0722 B clamped to [0,1], row-major width x height.
std::vector<double> luma(const Image& image);

// Periodic Hann weight of sample x of n, centred on pixel centres: w(x) = 1/2 - 1/2 cos(2 pi (x + 1/2) / n).
double hann_weight(int x, int n);

// The spectrum of a picture whose width and height are 2^a 3^b (else std::invalid_argument): Y minus its mean,
// times the separable window w(x) w(y), 2-D DFT F; P(k) = |F(k)|^2 / (W H mean(w^2)) (so white noise of
// variance s^2 has E[P] = s^2 at every k != 0); rho(k) = hypot(k_x / W, k_y / H) with signed indices; a bin is
// the mean P over its radii. rho = 0 and the corners rho > 1/2 are left out; a bin no k falls in (only when
// both sides are under 128 px) is NaN.
RadialSpectrum radial_spectrum(const Image& image);

// The bin a radius rho in (0, 1/2] falls in: ceil(128 rho) - 1; -1 outside that range.
int radial_bin_of(double rho);

// mean over bins b in [first, last] of log10(P_generated[b] / P_reference[b]).
double band_log_ratio(const RadialSpectrum& generated, const RadialSpectrum& reference, int first_bin, int last_bin);

// hf_dev and mf_dev: band_log_ratio over the high and the middle band.
double high_frequency_deviation(const RadialSpectrum& generated, const RadialSpectrum& reference);
double middle_frequency_deviation(const RadialSpectrum& generated, const RadialSpectrum& reference);

}  // namespace genplug::mini
