// Weight widening (weight_widening.hpp), written once with vector extensions (vector_lanes.hpp) and compiled for
// AVX-512, AVX2 and the SSE2 baseline like the other kernels: W narrow lanes converted to W floats in one pass.
// float16 through F16C's instructions (intrinsics: vector extensions have no portable half type).
#include "weight_widening.hpp"

#include <immintrin.h>

#include <cstring>

#include "vector_lanes.hpp"

namespace genplug::flux {
namespace {

using namespace lanes;

template <class T, int W> struct Narrow {
  typedef T V __attribute__((vector_size(sizeof(T) * W)));
};

template <class T, int W> GENPLUG_LANES_INLINE typename Narrow<T, W>::V load_narrow(const T* p) {
  typename Narrow<T, W>::V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// IEEE half -> float, exactly: normal numbers rebias the exponent, subnormals are m * 2^-24, inf and NaN keep
// their payload.
inline float f16_value(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else {
    const float v = float(mantissa) * 0x1p-24f;  // zero or subnormal: exact
    std::memcpy(&bits, &v, 4);
    bits |= sign;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

template <int W> GENPLUG_LANES_INLINE void q8_0_span(const int8_t* q, const uint16_t* d, float* out, int64_t blocks) {
  static_assert(32 % W == 0, "a block is whole vectors");
  for (int64_t b = 0; b < blocks; ++b, q += 32, out += 32) {
    const F<W> scale = splat<W>(f16_value(d[b]));  // one scalar conversion per 32 values
    for (int j = 0; j < 32; j += W)
      store<W>(out + j, __builtin_convertvector((load_narrow<int8_t, W>(q + j)), F<W>) * scale);
  }
}

template <int W> GENPLUG_LANES_INLINE void bf16_span(const uint16_t* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    const auto bits = __builtin_convertvector((load_narrow<uint16_t, W>(x + i)), typename Narrow<uint32_t, W>::V) << 16;
    F<W> f;
    std::memcpy(&f, &bits, sizeof f);
    store<W>(out + i, f);
  }
  for (; i < n; ++i) {
    const uint32_t bits = uint32_t(x[i]) << 16;
    std::memcpy(out + i, &bits, sizeof(float));
  }
}

__attribute__((target("avx512f"))) void f16_span_avx512(const uint16_t* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i))));
  for (; i < n; ++i) out[i] = f16_value(x[i]);
}
__attribute__((target("avx2,f16c"))) void f16_span_avx2(const uint16_t* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
  for (; i < n; ++i) out[i] = f16_value(x[i]);
}
void f16_span_baseline(const uint16_t* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = f16_value(x[i]);
}

#define GENPLUG_WIDENING_LEVELS(name, params, args)                                     \
  __attribute__((target("avx512f"))) void name##_avx512 params { name<16> args; }     \
  __attribute__((target("avx2"))) void name##_avx2 params { name<8> args; }           \
  void name##_baseline params { name<4> args; }
GENPLUG_WIDENING_LEVELS(q8_0_span, (const int8_t* q, const uint16_t* d, float* out, int64_t n), (q, d, out, n))
GENPLUG_WIDENING_LEVELS(bf16_span, (const uint16_t* x, float* out, int64_t n), (x, out, n))
#undef GENPLUG_WIDENING_LEVELS

}  // namespace

void widen_q8_0(SimdLevel level, const int8_t* q, const uint16_t* d, float* out, int64_t blocks) {
  switch (level) {
    case SimdLevel::avx512: return q8_0_span_avx512(q, d, out, blocks);
    case SimdLevel::avx2: return q8_0_span_avx2(q, d, out, blocks);
    case SimdLevel::baseline: return q8_0_span_baseline(q, d, out, blocks);
  }
}

void widen_bf16(SimdLevel level, const uint16_t* x, float* out, int64_t n) {
  switch (level) {
    case SimdLevel::avx512: return bf16_span_avx512(x, out, n);
    case SimdLevel::avx2: return bf16_span_avx2(x, out, n);
    case SimdLevel::baseline: return bf16_span_baseline(x, out, n);
  }
}

void widen_f16(SimdLevel level, const uint16_t* x, float* out, int64_t n) {
  switch (level) {
    case SimdLevel::avx512: return f16_span_avx512(x, out, n);
    case SimdLevel::avx2: return f16_span_avx2(x, out, n);
    case SimdLevel::baseline: return f16_span_baseline(x, out, n);
  }
}

}  // namespace genplug::flux
