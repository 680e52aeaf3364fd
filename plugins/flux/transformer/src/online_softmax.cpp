// The online softmax step (online_softmax.hpp), written once with GCC/Clang vector extensions and compiled
// three times: AVX-512 (16 lanes), AVX2 + FMA (8) and the x86-64 baseline SSE2 (4). The build targets the
// baseline, so the wider copies are chosen at run time; none of them needs a tensor library.
#include "online_softmax.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

// Helpers return vectors of 8 or 16 floats, which the baseline ABI returns differently; they are always inlined
// into the functions compiled for the wider instruction sets, so no call returns one.
#pragma GCC diagnostic ignored "-Wpsabi"
#define GENPLUG_LANES_INLINE inline __attribute__((always_inline))

namespace genplug::flux {
namespace {

// W float lanes and their integer twin.
template <int W> struct Lanes;
#define GENPLUG_DEFINE_LANES(W)                                \
  template <> struct Lanes<W> {                                \
    typedef float F __attribute__((vector_size(4 * W)));       \
    typedef int32_t I __attribute__((vector_size(4 * W)));     \
  };
GENPLUG_DEFINE_LANES(4)
GENPLUG_DEFINE_LANES(8)
GENPLUG_DEFINE_LANES(16)

template <int W> using F = typename Lanes<W>::F;
template <int W> using I = typename Lanes<W>::I;

template <int W> GENPLUG_LANES_INLINE F<W> splat(float x) { return F<W>{} + x; }
// Through memcpy (one unaligned vector move once compiled): no aliasing of float storage as a vector type.
template <int W> GENPLUG_LANES_INLINE F<W> load(const float* p) {
  F<W> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <int W> GENPLUG_LANES_INLINE void store(float* p, const F<W>& v) { std::memcpy(p, &v, sizeof v); }

template <int W> GENPLUG_LANES_INLINE F<W> max_lanes(const F<W>& a, const F<W>& b) { return a > b ? a : b; }
template <int W> GENPLUG_LANES_INLINE F<W> min_lanes(const F<W>& a, const F<W>& b) { return a < b ? a : b; }

// exp(x) = 2^n exp(r) with n = round(x / ln2) and r = x - n ln2 (ln2 in two parts, Cody and Waite), exp(r) by
// Cephes' expf polynomial (relative error ~1e-7 on |r| <= ln2 / 2). x is clamped to [-87.34, 88.38], where
// 2^n stays a normal float.
template <int W> GENPLUG_LANES_INLINE F<W> exp_lanes(const F<W>& arg) {
  F<W> x = max_lanes<W>(arg, splat<W>(-87.336544f));
  x = min_lanes<W>(x, splat<W>(88.376259f));
  const F<W> shifter = splat<W>(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer in the low bits
  const F<W> t = x * 1.44269504f + shifter;
  const F<W> n = t - shifter;
  const F<W> r = x - n * 0.693359375f - n * -2.12194440e-4f;
  F<W> p = splat<W>(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const I<W> two_to_n = ((I<W>)t - (I<W>)shifter + 127) << 23;  // t's low bits hold n: the float 2^n
  return p * (F<W>)two_to_n;
}

template <int W> GENPLUG_LANES_INLINE float exp_one(float x) { return exp_lanes<W>(splat<W>(x))[0]; }

// Four accumulators: one would wait on its own previous max at every vector.
template <int W> GENPLUG_LANES_INLINE float row_max(const float* row, int64_t cols) {
  const F<W> lowest = splat<W>(-std::numeric_limits<float>::infinity());
  F<W> a0 = lowest, a1 = lowest, a2 = lowest, a3 = lowest;
  int64_t j = 0;
  for (; j + 4 * W <= cols; j += 4 * W) {
    a0 = max_lanes<W>(a0, load<W>(row + j));
    a1 = max_lanes<W>(a1, load<W>(row + j + W));
    a2 = max_lanes<W>(a2, load<W>(row + j + 2 * W));
    a3 = max_lanes<W>(a3, load<W>(row + j + 3 * W));
  }
  for (; j + W <= cols; j += W) a0 = max_lanes<W>(a0, load<W>(row + j));
  const F<W> acc = max_lanes<W>(max_lanes<W>(a0, a1), max_lanes<W>(a2, a3));
  float m = acc[0];
  for (int i = 1; i < W; ++i) m = std::max(m, acc[i]);
  for (; j < cols; ++j) m = std::max(m, row[j]);
  return m;
}

// row[j] <- exp(row[j] - m) in place; returns their sum.
template <int W> GENPLUG_LANES_INLINE float exp_row(float* row, int64_t cols, float m) {
  F<W> acc = splat<W>(0.0f);
  int64_t j = 0;
  for (; j + W <= cols; j += W) {
    const F<W> e = exp_lanes<W>(load<W>(row + j) - m);
    store<W>(row + j, e);
    acc += e;
  }
  float sum = 0.0f;
  if (j < cols) {  // the ragged end: one partial vector, its unused lanes neither stored nor summed
    const int64_t rest = cols - j;
    F<W> tail = splat<W>(m);
    std::memcpy(&tail, row + j, size_t(rest) * sizeof(float));
    const F<W> e = exp_lanes<W>(tail - m);
    for (int64_t i = 0; i < rest; ++i) sum += (row[j + i] = e[i]);
  }
  for (int i = 0; i < W; ++i) sum += acc[i];
  return sum;
}

template <int W>
GENPLUG_LANES_INLINE void block(float* scores, int64_t rows, int64_t cols, int64_t stride, float* m, float* l,
                                float* alpha) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = scores + r * stride;
    const float m_new = std::max(m[r], row_max<W>(row, cols));
    alpha[r] = exp_one<W>(m[r] - m_new);
    l[r] = l[r] * alpha[r] + exp_row<W>(row, cols, m_new);
    m[r] = m_new;
  }
}

__attribute__((target("avx512f"))) void block_avx512(float* s, int64_t rows, int64_t cols, int64_t stride,
                                                     float* m, float* l, float* alpha) {
  block<16>(s, rows, cols, stride, m, l, alpha);
}
__attribute__((target("avx2,fma"))) void block_avx2(float* s, int64_t rows, int64_t cols, int64_t stride, float* m,
                                                    float* l, float* alpha) {
  block<8>(s, rows, cols, stride, m, l, alpha);
}
void block_baseline(float* s, int64_t rows, int64_t cols, int64_t stride, float* m, float* l, float* alpha) {
  block<4>(s, rows, cols, stride, m, l, alpha);
}

}  // namespace

bool cpu_supports(SimdLevel level) {
  __builtin_cpu_init();
  switch (level) {
    case SimdLevel::avx512: return __builtin_cpu_supports("avx512f");
    case SimdLevel::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case SimdLevel::baseline: return true;
  }
  return false;
}

SimdLevel simd_level() {
  static const SimdLevel level = [] {
    SimdLevel best = cpu_supports(SimdLevel::avx512) ? SimdLevel::avx512
                     : cpu_supports(SimdLevel::avx2) ? SimdLevel::avx2
                                                     : SimdLevel::baseline;
    const char* cap = std::getenv("ATEN_CPU_CAPABILITY");
    const std::string capability = cap ? cap : "";
    if (capability == "default") best = SimdLevel::baseline;
    if (capability == "avx2") best = std::min(best, SimdLevel::avx2);
    return best;
  }();
  return level;
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::avx512: return "avx512";
    case SimdLevel::avx2: return "avx2";
    case SimdLevel::baseline: return "baseline";
  }
  return "?";
}

void online_softmax_block(SimdLevel level, float* scores, int64_t rows, int64_t cols, int64_t stride, float* m,
                          float* l, float* alpha) {
  switch (level) {
    case SimdLevel::avx512: return block_avx512(scores, rows, cols, stride, m, l, alpha);
    case SimdLevel::avx2: return block_avx2(scores, rows, cols, stride, m, l, alpha);
    case SimdLevel::baseline: return block_baseline(scores, rows, cols, stride, m, l, alpha);
  }
}

}  // namespace genplug::flux
