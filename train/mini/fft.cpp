#include "fft.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace genplug::mini {
namespace {

void require_fft_length(std::size_t n, const char* what) {
  if (!is_fft_length(n))
    throw std::invalid_argument(std::string("fft: ") + what + " " + std::to_string(n) + " is not 2^a 3^b");
}

// roots[t] = exp(-2 pi i t / n), t < n: every twiddle factor of a length-n transform and its sub-transforms.
std::vector<Complex> roots_of_unity(std::size_t n) {
  constexpr double two_pi = 6.283185307179586;
  std::vector<Complex> roots(n);
  for (std::size_t t = 0; t < n; ++t) roots[t] = std::polar(1.0, -two_pi * static_cast<double>(t) / n);
  return roots;
}

// out[k], k < n = DFT of in[0], in[stride], ..., in[(n-1) stride]. `roots` belongs to the full length N;
// roots[t * root_step] = exp(-2 pi i t / n) with root_step = N / n.
// Decimation in time: with n = r m (r = 3 or 2) and Y_q the length-m DFT of the q-th decimated sequence,
// X[k + p m] = sum_q exp(-2 pi i q k / n) exp(-2 pi i q p / r) Y_q[k], for k < m and p < r.
void transform(const Complex* in, Complex* out, std::size_t n, std::size_t stride, const std::vector<Complex>& roots,
               std::size_t root_step) {
  if (n == 1) {
    out[0] = in[0];
    return;
  }
  const std::size_t radix = n % 3 == 0 ? 3 : 2;
  const std::size_t m = n / radix;
  for (std::size_t q = 0; q < radix; ++q)
    transform(in + q * stride, out + q * m, m, stride * radix, roots, root_step * radix);
  if (radix == 2) {
    for (std::size_t k = 0; k < m; ++k) {
      const Complex a = out[k], b = out[k + m] * roots[k * root_step];
      out[k] = a + b;
      out[k + m] = a - b;
    }
    return;
  }
  // Radix 3 with w = exp(-2 pi i / 3) = -1/2 - i sqrt(3)/2: X_1,2 = a - (b + c)/2 -+ i (sqrt(3)/2) (b - c).
  const Complex i_sqrt3_half(0.0, 0.8660254037844386);
  for (std::size_t k = 0; k < m; ++k) {
    const Complex a = out[k], b = out[k + m] * roots[k * root_step], c = out[k + 2 * m] * roots[2 * k * root_step];
    const Complex sum = b + c, middle = a - 0.5 * sum, turn = i_sqrt3_half * (b - c);
    out[k] = a + sum;
    out[k + m] = middle - turn;
    out[k + 2 * m] = middle + turn;
  }
}

// Transforms `count` sequences of length n (element j of sequence s at values[s * sequence_step + j * stride]).
void transform_each(std::vector<Complex>& values, std::size_t n, std::size_t count, std::size_t stride,
                    std::size_t sequence_step) {
  const std::vector<Complex> roots = roots_of_unity(n);
  std::vector<Complex> in(n), out(n);
  for (std::size_t s = 0; s < count; ++s) {
    Complex* first = values.data() + s * sequence_step;
    for (std::size_t j = 0; j < n; ++j) in[j] = first[j * stride];
    transform(in.data(), out.data(), n, 1, roots, 1);
    for (std::size_t j = 0; j < n; ++j) first[j * stride] = out[j];
  }
}

}  // namespace

bool is_fft_length(std::size_t n) {
  if (n == 0) return false;
  while (n % 2 == 0) n /= 2;
  while (n % 3 == 0) n /= 3;
  return n == 1;
}

void fft(std::vector<Complex>& values) {
  require_fft_length(values.size(), "length");
  transform_each(values, values.size(), 1, 1, 0);
}

void fft_2d(std::vector<Complex>& values, int width, int height) {
  if (width < 1 || height < 1 || values.size() != static_cast<std::size_t>(width) * height)
    throw std::invalid_argument("fft_2d: " + std::to_string(values.size()) + " values for " + std::to_string(width) +
                                " x " + std::to_string(height));
  require_fft_length(static_cast<std::size_t>(width), "width");
  require_fft_length(static_cast<std::size_t>(height), "height");
  const std::size_t w = static_cast<std::size_t>(width), h = static_cast<std::size_t>(height);
  transform_each(values, w, h, 1, w);  // rows
  transform_each(values, h, w, w, 1);  // columns
}

}  // namespace genplug::mini
