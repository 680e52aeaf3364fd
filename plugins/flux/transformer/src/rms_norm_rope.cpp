// RMSNorm + RoPE (rms_norm_rope.hpp): the sum of squares in vector lanes (vector_lanes.hpp), compiled for
// AVX-512, AVX2 + FMA and the SSE2 baseline like the other kernels; the pairs' rotation is a plain loop the
// compiler vectorises as it can (a row is 64 pairs: the sum and the memory traffic dominate).
#include "rms_norm_rope.hpp"

#include <cmath>

#include "vector_lanes.hpp"

namespace genplug::flux {
namespace {

using namespace lanes;

template <int W> GENPLUG_LANES_INLINE float sum_of_squares(const float* x, int64_t n) {
  F<W> acc0 = splat<W>(0.0f), acc1 = splat<W>(0.0f);
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const F<W> a = load<W>(x + i), b = load<W>(x + i + W);
    acc0 += a * a;
    acc1 += b * b;
  }
  for (; i + W <= n; i += W) {
    const F<W> a = load<W>(x + i);
    acc0 += a * a;
  }
  const F<W> acc = acc0 + acc1;
  float s = 0.0f;
  for (int l = 0; l < W; ++l) s += acc[l];
  for (; i < n; ++i) s += x[i] * x[i];
  return s;
}

template <int W>
GENPLUG_LANES_INLINE void rows_of(const float* x, int64_t x_stride, int64_t rows, int64_t dim, const float* scale,
                                  const float* cos, const float* sin, float* out) {
  const int64_t pairs = dim / 2;
  for (int64_t i = 0; i < rows; ++i) {
    const float* xi = x + i * x_stride;
    const float* c = cos + i * pairs;
    const float* s = sin + i * pairs;
    float* o = out + i * dim;
    const float r = 1.0f / std::sqrt(sum_of_squares<W>(xi, dim) / float(dim) + 1e-6f);
    for (int64_t k = 0; k < pairs; ++k) {
      const float a0 = xi[2 * k] * r * scale[2 * k], a1 = xi[2 * k + 1] * r * scale[2 * k + 1];
      o[2 * k] = c[k] * a0 - s[k] * a1;
      o[2 * k + 1] = s[k] * a0 + c[k] * a1;
    }
  }
}

__attribute__((target("avx512f"))) void rows_avx512(const float* x, int64_t xs, int64_t rows, int64_t dim,
                                                    const float* scale, const float* c, const float* s, float* o) {
  rows_of<16>(x, xs, rows, dim, scale, c, s, o);
}
__attribute__((target("avx2,fma"))) void rows_avx2(const float* x, int64_t xs, int64_t rows, int64_t dim,
                                                   const float* scale, const float* c, const float* s, float* o) {
  rows_of<8>(x, xs, rows, dim, scale, c, s, o);
}
void rows_baseline(const float* x, int64_t xs, int64_t rows, int64_t dim, const float* scale, const float* c,
                   const float* s, float* o) {
  rows_of<4>(x, xs, rows, dim, scale, c, s, o);
}

}  // namespace

void rms_norm_rope(SimdLevel level, const float* x, int64_t x_stride, int64_t rows, int64_t dim, const float* scale,
                   const float* cos, const float* sin, float* out) {
  switch (level) {
    case SimdLevel::avx512: return rows_avx512(x, x_stride, rows, dim, scale, cos, sin, out);
    case SimdLevel::avx2: return rows_avx2(x, x_stride, rows, dim, scale, cos, sin, out);
    case SimdLevel::baseline: return rows_baseline(x, x_stride, rows, dim, scale, cos, sin, out);
  }
}

}  // namespace genplug::flux
