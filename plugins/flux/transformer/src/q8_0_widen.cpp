// Q8_0 widening (q8_0_widen.hpp), written once with vector extensions (vector_lanes.hpp) and compiled for AVX-512,
// AVX2 and the SSE2 baseline like the other kernels: W int8 lanes converted to W floats and scaled in one pass.
#include "q8_0_widen.hpp"

#include <cstring>

#include "vector_lanes.hpp"

namespace genplug::flux {
namespace {

using namespace lanes;

template <int W> struct Bytes {
  typedef int8_t B __attribute__((vector_size(W)));
};

template <int W> GENPLUG_LANES_INLINE F<W> widened(const int8_t* q) {
  typename Bytes<W>::B b;
  std::memcpy(&b, q, sizeof b);
  return __builtin_convertvector(b, F<W>);
}

template <int W> GENPLUG_LANES_INLINE void span(const int8_t* q, const float* d, float* out, int64_t blocks) {
  static_assert(32 % W == 0, "a block is whole vectors");
  for (int64_t b = 0; b < blocks; ++b, q += 32, out += 32) {
    const F<W> scale = splat<W>(d[b]);
    for (int j = 0; j < 32; j += W) store<W>(out + j, widened<W>(q + j) * scale);
  }
}

__attribute__((target("avx512f"))) void span_avx512(const int8_t* q, const float* d, float* out, int64_t n) {
  span<16>(q, d, out, n);
}
__attribute__((target("avx2"))) void span_avx2(const int8_t* q, const float* d, float* out, int64_t n) {
  span<8>(q, d, out, n);
}
void span_baseline(const int8_t* q, const float* d, float* out, int64_t n) { span<4>(q, d, out, n); }

}  // namespace

void widen_q8_0(SimdLevel level, const int8_t* q, const float* d, float* out, int64_t blocks) {
  switch (level) {
    case SimdLevel::avx512: return span_avx512(q, d, out, blocks);
    case SimdLevel::avx2: return span_avx2(q, d, out, blocks);
    case SimdLevel::baseline: return span_baseline(q, d, out, blocks);
  }
}

}  // namespace genplug::flux
