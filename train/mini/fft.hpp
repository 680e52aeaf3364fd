// Discrete Fourier transforms for the scoring code: mixed-radix (2 and 3) Cooley-Tukey, 1-D and separable 2-D.
//
// Forward transform, no scaling: X[k] = sum_j x[j] exp(-2 pi i j k / n). Only lengths n = 2^a 3^b (n >= 1) are
// supported, which covers the DyPE benchmark's sides (128, 256, 384, 512) but not every multiple of the mini
// model's 16 px tokens (160 = 2^5 5 is not); any other length throws std::invalid_argument.
#pragma once
#include <complex>
#include <cstddef>
#include <vector>

namespace genplug::mini {

using Complex = std::complex<double>;

// Whether n = 2^a 3^b for some a, b >= 0 (so n >= 1).
bool is_fft_length(std::size_t n);

// Transforms `values` in place (length n, any 2^a 3^b).
void fft(std::vector<Complex>& values);

// Transforms a row-major width x height array in place: every row, then every column.
void fft_2d(std::vector<Complex>& values, int width, int height);

}  // namespace genplug::mini
