// The modulation kernels (modulation_kernels.hpp), written once with vector extensions (vector_lanes.hpp) and
// compiled for AVX-512, AVX2 + FMA and the SSE2 baseline like the GELU.
#include "modulation_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "vector_lanes.hpp"

namespace genplug::flux {
namespace {

using namespace lanes;

template <int W> GENPLUG_LANES_INLINE double lane_sum(const F<W>& v) {
  double s = 0.0;
  for (int i = 0; i < W; ++i) s += v[i];
  return s;
}

// The mean and 1 / sqrt(var + eps) of a row. The second pass also sums d = x - mean, whose mean corrects the
// first pass's rounding (the corrected two-pass algorithm: Chan, Golub and LeVeque 1983): the first mean's error
// would otherwise reach every z through the rows' offset, ~(n / W) u of mean|x| / sigma.
template <int W> GENPLUG_LANES_INLINE void moments(const float* x, int64_t n, float eps, float& mean, float& rstd) {
  F<W> sum = splat<W>(0.0f);
  int64_t i = 0;
  for (; i + W <= n; i += W) sum += load<W>(x + i);
  if (i < n) sum += load_part<W>(x + i, n - i, 0.0f);
  const float first = float(lane_sum<W>(sum) / double(n));
  const F<W> m = splat<W>(first);
  F<W> squares = splat<W>(0.0f), diffs = splat<W>(0.0f);
  for (i = 0; i + W <= n; i += W) {
    const F<W> d = load<W>(x + i) - m;
    squares += d * d;
    diffs += d;
  }
  if (i < n) {
    const F<W> d = load_part<W>(x + i, n - i, first) - m;  // the lanes past the row are the mean: no difference
    squares += d * d;
    diffs += d;
  }
  const double shift = lane_sum<W>(diffs) / double(n);  // the first mean's rounding, as seen in the row
  mean = float(double(first) + shift);
  rstd = float(1.0 / std::sqrt(std::max(0.0, lane_sum<W>(squares) / double(n) - shift * shift) + double(eps)));
}

template <int W>
GENPLUG_LANES_INLINE void norm_row(const float* x, const float* ops, const float* shift, float eps, float* y,
                                   int64_t n) {
  float mean, rstd;
  moments<W>(x, n, eps, mean, rstd);
  const F<W> m = splat<W>(mean), r = splat<W>(rstd);
  int64_t i = 0;
  for (; i + W <= n; i += W) store<W>(y + i, (load<W>(x + i) - m) * r * load<W>(ops + i) + load<W>(shift + i));
  if (i < n)
    store_part<W>(y + i,
                  (load_part<W>(x + i, n - i, 0.0f) - m) * r * load_part<W>(ops + i, n - i, 0.0f) +
                      load_part<W>(shift + i, n - i, 0.0f),
                  n - i);
}

template <int W> GENPLUG_LANES_INLINE void gated_row(const float* x, const float* gate, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + W <= n; i += W) store<W>(y + i, load<W>(x + i) + load<W>(gate + i) * load<W>(y + i));
  if (i < n)
    store_part<W>(y + i,
                  load_part<W>(x + i, n - i, 0.0f) + load_part<W>(gate + i, n - i, 0.0f) * load_part<W>(y + i, n - i, 0.0f),
                  n - i);
}

__attribute__((target("avx512f"))) void norm_avx512(const float* x, const float* o, const float* s, float e, float* y,
                                                    int64_t n) {
  norm_row<16>(x, o, s, e, y, n);
}
__attribute__((target("avx2,fma"))) void norm_avx2(const float* x, const float* o, const float* s, float e, float* y,
                                                   int64_t n) {
  norm_row<8>(x, o, s, e, y, n);
}
void norm_baseline(const float* x, const float* o, const float* s, float e, float* y, int64_t n) {
  norm_row<4>(x, o, s, e, y, n);
}
__attribute__((target("avx512f"))) void gated_avx512(const float* x, const float* g, float* y, int64_t n) {
  gated_row<16>(x, g, y, n);
}
__attribute__((target("avx2,fma"))) void gated_avx2(const float* x, const float* g, float* y, int64_t n) {
  gated_row<8>(x, g, y, n);
}
void gated_baseline(const float* x, const float* g, float* y, int64_t n) { gated_row<4>(x, g, y, n); }

}  // namespace

void modulated_layer_norm(SimdLevel level, const float* x, const float* one_plus_scale, const float* shift,
                          float eps, float* y, int64_t n) {
  if (n <= 0) return;
  switch (level) {
    case SimdLevel::avx512: return norm_avx512(x, one_plus_scale, shift, eps, y, n);
    case SimdLevel::avx2: return norm_avx2(x, one_plus_scale, shift, eps, y, n);
    case SimdLevel::baseline: return norm_baseline(x, one_plus_scale, shift, eps, y, n);
  }
}

void gated_residual(SimdLevel level, const float* x, const float* gate, float* y, int64_t n) {
  switch (level) {
    case SimdLevel::avx512: return gated_avx512(x, gate, y, n);
    case SimdLevel::avx2: return gated_avx2(x, gate, y, n);
    case SimdLevel::baseline: return gated_baseline(x, gate, y, n);
  }
}

}  // namespace genplug::flux
