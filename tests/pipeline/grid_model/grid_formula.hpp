// The grid test model's closed forms, shared by the plugin and the tests that check what the host made of it.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace grid {

constexpr uint32_t kPx = 8, kBase = 8, kDim = 8;  // 8 px per token, trained at 8 x 8 tokens, 8 dims per axis
constexpr double kTheta = 100.0;

inline uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
inline double uniform(uint64_t x) { return double((mix(x) >> 11) + 1) * 0x1.0p-53; }

// The prompt's colour: three numbers in [0.2, 1] from an FNV-1a hash of its bytes.
inline std::vector<float> color_of(const std::string& prompt) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : prompt) h = (h ^ ch) * 1099511628211ULL;
  std::vector<float> c(3);
  for (int i = 0; i < 3; ++i) c[size_t(i)] = float(0.2 + 0.8 * uniform(h + uint64_t(i)));
  return c;
}

// The clean latent [3, rows, cols] for a colour and a spectrum (kDim/2 freqs per axis, rows then cols; one
// amplitude per axis): colour * (0.5 + 0.25 (A_r m_r(r) + A_c m_c(c))), m_a(p) the mean of cos(p * freq).
inline std::vector<float> clean_picture(const float* color, int64_t rows, int64_t cols, const double* freqs,
                                        const double* amplitude) {
  std::vector<float> x(size_t(3 * rows * cols));
  auto mean_cos = [&](int64_t p, const double* f) {
    double s = 0;
    for (uint32_t j = 0; j < kDim / 2; ++j) s += std::cos(double(p) * f[j]);
    return s / (kDim / 2);
  };
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const double pattern =
          0.5 + 0.25 * (amplitude[0] * mean_cos(r, freqs) + amplitude[1] * mean_cos(c, freqs + kDim / 2));
      for (int ch = 0; ch < 3; ++ch) x[size_t((ch * rows + r) * cols + c)] = float(color[ch] * pattern);
    }
  return x;
}

}  // namespace grid
