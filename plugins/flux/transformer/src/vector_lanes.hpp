// Float vectors of W lanes (GCC/Clang vector extensions) and the few operations the hand-vectorised kernels
// share: loads, stores, min/max and exp. Templates, always inlined, so each kernel's copy compiled for a wider
// instruction set (target attribute) gets them in that set. Private to the transformer library's kernels.
#pragma once
#include <cstdint>
#include <cstring>

// Helpers return vectors of 8 or 16 floats, which the baseline ABI returns differently; they are always inlined
// into the functions compiled for the wider instruction sets, so no call returns one.
#pragma GCC diagnostic ignored "-Wpsabi"
#define GENPLUG_LANES_INLINE inline __attribute__((always_inline))

namespace genplug::flux::lanes {

// W float lanes and their unsigned integer twin.
template <int W> struct Lanes;
#define GENPLUG_DEFINE_LANES(W)                                \
  template <> struct Lanes<W> {                                \
    typedef float F __attribute__((vector_size(4 * W)));       \
    typedef uint32_t U __attribute__((vector_size(4 * W)));    \
  };
GENPLUG_DEFINE_LANES(4)
GENPLUG_DEFINE_LANES(8)
GENPLUG_DEFINE_LANES(16)

template <int W> using F = typename Lanes<W>::F;
template <int W> using U = typename Lanes<W>::U;

template <int W> GENPLUG_LANES_INLINE F<W> splat(float x) { return F<W>{} + x; }
// Through memcpy (one unaligned vector move once compiled): no aliasing of float storage as a vector type.
template <int W> GENPLUG_LANES_INLINE F<W> load(const float* p) {
  F<W> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <int W> GENPLUG_LANES_INLINE void store(float* p, const F<W>& v) { std::memcpy(p, &v, sizeof v); }
// The first n < W values at p (a row's ragged end) in one vector, its other lanes `fill`; and stored back in part.
template <int W> GENPLUG_LANES_INLINE F<W> load_part(const float* p, int64_t n, float fill) {
  F<W> v = splat<W>(fill);
  std::memcpy(&v, p, size_t(n) * sizeof(float));
  return v;
}
template <int W> GENPLUG_LANES_INLINE void store_part(float* p, const F<W>& v, int64_t n) {
  std::memcpy(p, &v, size_t(n) * sizeof(float));
}

template <int W> GENPLUG_LANES_INLINE F<W> max_lanes(const F<W>& a, const F<W>& b) { return a > b ? a : b; }
template <int W> GENPLUG_LANES_INLINE F<W> min_lanes(const F<W>& a, const F<W>& b) { return a < b ? a : b; }

// p x^k + c1 x^(k-1) + ... + ck by Horner's rule, p a vector and the coefficients from the highest power down:
// horner<W>(x, splat<W>(c0), c1, c2) is (c0 x + c1) x + c2. One multiply-add per coefficient, in this order.
template <int W> GENPLUG_LANES_INLINE F<W> horner(const F<W>&, const F<W>& p) { return p; }
template <int W, class... Rest>
GENPLUG_LANES_INLINE F<W> horner(const F<W>& x, const F<W>& p, float c, Rest... rest) {
  return horner<W>(x, p * x + c, rest...);
}

// exp(x) = 2^n exp(r) with n = round(x / ln2) and r = x - n ln2 (ln2 in two parts, Cody and Waite), exp(r) by
// Cephes' expf polynomial (relative error ~1e-7 on |r| <= ln2 / 2). x is clamped to [-87.34, 88.38], where
// 2^n stays a normal float. The bound is the clamps' first operand: a comparison with NaN is false, so NaN passes
// through (and comes out NaN, as from std::exp) instead of becoming a bound, which would hide a NaN score.
template <int W> GENPLUG_LANES_INLINE F<W> exp_lanes(const F<W>& arg) {
  F<W> x = max_lanes<W>(splat<W>(-87.336544f), arg);
  x = min_lanes<W>(splat<W>(88.376259f), x);
  const F<W> shifter = splat<W>(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer in the low bits
  const F<W> t = x * 1.44269504f + shifter;
  const F<W> n = t - shifter;
  const F<W> r = x - n * 0.693359375f - n * -2.12194440e-4f;
  F<W> p = horner<W>(r, splat<W>(1.9875691500e-4f), 1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f,
                     1.6666665459e-1f, 5.0000001201e-1f);
  p = p * (r * r) + r + 1.0f;
  // t's low bits hold n: the float 2^n. Unsigned, so that a NaN's bits (which come out NaN anyway) wrap rather
  // than shift a negative integer.
  const U<W> two_to_n = ((U<W>)t - (U<W>)shifter + 127u) << 23;
  return p * (F<W>)two_to_n;
}

}  // namespace genplug::flux::lanes
