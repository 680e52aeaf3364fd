// GELU-tanh (gelu_tanh.hpp), written once with vector extensions (vector_lanes.hpp) and compiled for AVX-512,
// AVX2 + FMA and the SSE2 baseline like the online softmax.
#include "gelu_tanh.hpp"

#include "vector_lanes.hpp"

namespace genplug::flux {
namespace {

using namespace lanes;

// -2u = x (a + b x^2): a = -2 sqrt(2/pi), b = 0.044715 a.
constexpr float kA = -1.5957691216057308f, kB = -0.0713548162726009f;

template <int W> GENPLUG_LANES_INLINE F<W> gelu_lanes(const F<W>& x) {
  return x / (1.0f + exp_lanes<W>(x * (kA + kB * (x * x))));
}

template <int W> GENPLUG_LANES_INLINE void span(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + W <= n; i += W) store<W>(y + i, gelu_lanes<W>(load<W>(x + i)));
  if (i < n) store_part<W>(y + i, gelu_lanes<W>(load_part<W>(x + i, n - i, 0.0f)), n - i);  // the ragged end
}

__attribute__((target("avx512f"))) void span_avx512(const float* x, float* y, int64_t n) { span<16>(x, y, n); }
__attribute__((target("avx2,fma"))) void span_avx2(const float* x, float* y, int64_t n) { span<8>(x, y, n); }
void span_baseline(const float* x, float* y, int64_t n) { span<4>(x, y, n); }

}  // namespace

void gelu_tanh(SimdLevel level, const float* x, float* y, int64_t n) {
  switch (level) {
    case SimdLevel::avx512: return span_avx512(x, y, n);
    case SimdLevel::avx2: return span_avx2(x, y, n);
    case SimdLevel::baseline: return span_baseline(x, y, n);
  }
}

}  // namespace genplug::flux
