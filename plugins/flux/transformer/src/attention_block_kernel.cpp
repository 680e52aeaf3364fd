// The attention block kernel (attention_block_kernel.hpp). Queries run along the vector lanes: the block's
// queries are transposed once into columns (qt, scaled by log2(e) / sqrt(d)), and for every tile of keys
//   s[j][c]  = sum_d k[j][d] qt[d][c]                   score tiles: M keys x N vectors of queries
//   m'[c]    = max(m[c], max_j s[j][c])                 folded into the score tiles while in registers
//   s[j][c] <- 2^(s[j][c] - m'[c]),  alpha[c] = 2^(m[c] - m'[c])
//   l[c]     = l[c] alpha[c] + sum_j s[j][c]
//   ot[e][c] = ot[e][c] alpha[c] + sum_j v[j][e] s[j][c] value tiles: M value features x N vectors of queries
// and out[c][e] = ot[e][c] / l[c] at the end. Every step is column-wise, so the softmax needs no horizontal
// reduction; with the scores in base 2, e^(s - m) is 2^(s log2(e) - m log2(e)), whose range reduction is exact.
// Both products load queries or probabilities as whole vectors and broadcast k or v, which the caller packs once
// per head into panels of M rows (pack_attention_keys/values), so that each broadcast stream is contiguous, as a
// matrix library packs its operands. Against softmax(q k^T / sqrt(d)) v it differs in rounding only, as the
// blocked path does: the scale is applied to q, the output normalised once.
//
// Compiled three times (AVX-512 with 16 lanes, AVX2 + FMA with 8, SSE2 with 4) from one template. The templates
// are always inlined into the entry point of their instruction set, so every call passing a vector is made from
// a function compiled for that set (also at -O0); `flatten` then inlines the intrinsics' wrappers too.
#include "attention_block_kernel.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "vector_lanes.hpp"

namespace genplug::flux {
namespace {

using namespace lanes;

// Per instruction set: the register tile (M rows broadcast x N vectors loaded; M * N accumulators plus N + 1
// operands fit the register file: 32 zmm, 16 ymm or xmm), the side T of the tiles the queries and the output are
// transposed in (transpose_tile), x = max(bound, x) in one instruction (which keeps x where x is NaN), and one
// row of the tile, acc[u] += broadcast(*x) * row[u], by intrinsics, which carry their instruction set (GCC builds
// a generic broadcast element by element, and a max as a compare and a blend). Vectors pass by pointer: by
// value, a call from a function of another instruction set would change their ABI.
template <int W> struct Isa;
template <> struct Isa<16> {
  static constexpr int M = 8, N = 3, T = 8;
  __attribute__((target("avx512f"))) static void raise_to(const F<16>& bound, F<16>* x) {
    // The masked form with every lane set: GCC 12's _mm512_max_ps warns of its own undefined pass-through.
    *x = F<16>(_mm512_mask_max_ps(__m512(*x), __mmask16(0xFFFF), __m512(bound), __m512(*x)));
  }
  template <int n>
  __attribute__((target("avx512f"))) static void multiply_add(const float* x, const F<16>* row, F<16>* acc) {
    const __m512 b = _mm512_set1_ps(*x);
#pragma GCC unroll 8
    for (int u = 0; u < n; ++u) acc[u] = F<16>(_mm512_fmadd_ps(b, __m512(row[u]), __m512(acc[u])));
  }
};
template <> struct Isa<8> {
  static constexpr int M = 4, N = 3, T = 8;
  __attribute__((target("avx2,fma"))) static void raise_to(const F<8>& bound, F<8>* x) {
    *x = F<8>(_mm256_max_ps(__m256(bound), __m256(*x)));
  }
  template <int n>
  __attribute__((target("avx2,fma"))) static void multiply_add(const float* x, const F<8>* row, F<8>* acc) {
    const __m256 b = _mm256_set1_ps(*x);
#pragma GCC unroll 8
    for (int u = 0; u < n; ++u) acc[u] = F<8>(_mm256_fmadd_ps(b, __m256(row[u]), __m256(acc[u])));
  }
};
template <> struct Isa<4> {
  static constexpr int M = 4, N = 3, T = 4;
  static void raise_to(const F<4>& bound, F<4>* x) { *x = F<4>(_mm_max_ps(__m128(bound), __m128(*x))); }
  template <int n> static void multiply_add(const float* x, const F<4>* row, F<4>* acc) {
    const F<4> b = F<4>(_mm_set1_ps(*x));
#pragma GCC unroll 8
    for (int u = 0; u < n; ++u) acc[u] = b * row[u] + acc[u];  // SSE2 has no fused multiply-add
  }
};

// The T x T floats at src (rows `stride` apart) as T vectors: cols[j] is column j, (src[0][j], .., src[T-1][j]).
// Two rounds of interleaving pairs and, for 8 lanes, one exchange of 128-bit halves. Compiled for AVX, which
// both the AVX2 and the AVX-512 kernel include, and inlined into them by their `flatten`, as multiply_add is.
template <int T> void transpose_tile(const float* src, int64_t stride, F<T>* cols);
template <> __attribute__((target("avx"))) void transpose_tile<8>(const float* src, int64_t stride, F<8>* cols) {
  __m256 r[8], t[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * stride);
#pragma GCC unroll 4
  for (int i = 0; i < 8; i += 2) {  // rows a, b: a0 b0 a1 b1 | a4 b4 a5 b5 and a2 b2 a3 b3 | a6 b6 a7 b7
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 2
  for (int i = 0; i < 8; i += 4) {  // rows a-d: r[i + j] = aj bj cj dj | a(j+4) b(j+4) c(j+4) d(j+4)
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {  // rows a-d's half beside rows e-h's
    cols[j] = F<8>(_mm256_permute2f128_ps(r[j], r[j + 4], 0x20));
    cols[j + 4] = F<8>(_mm256_permute2f128_ps(r[j], r[j + 4], 0x31));
  }
}
template <> void transpose_tile<4>(const float* src, int64_t stride, F<4>* cols) {
  __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + stride), r2 = _mm_loadu_ps(src + 2 * stride),
         r3 = _mm_loadu_ps(src + 3 * stride);
  _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
  cols[0] = F<4>(r0), cols[1] = F<4>(r1), cols[2] = F<4>(r2), cols[3] = F<4>(r3);
}

// acc[i][u] += sum_t a[i * ai + t * at] * b[t * ldb + u * W .. + W), for t < T.
template <int W, int M, int N>
GENPLUG_LANES_INLINE void multiply_tile(const float* a, int64_t ai, int64_t at, const float* b, int64_t ldb, int64_t T,
                                        F<W> (&acc)[M][N]) {
  for (int64_t t = 0; t < T; ++t) {
    F<W> row[N];
#pragma GCC unroll 8
    for (int u = 0; u < N; ++u) row[u] = load<W>(b + t * ldb + u * W);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) Isa<W>::template multiply_add<N>(a + i * ai + t * at, row, acc[i]);
  }
}

// The queries are taken in groups of G = N * W columns, one register tile wide, and each group's transposed
// queries, transposed output and scores are stored as rows of G floats, one after the other. With rows a whole
// block's width apart instead (`cols`: 48 floats for AVX2's 24-column groups), a group's operands were spread
// over twice as many cache lines, which the streamed keys or values then evicted from L1: in a loop alone, rows
// 2 G apart ran at 0.90 of the multiply-add peak, 4 G apart at 0.64, adjacent at 0.99.
template <int W> constexpr int64_t group_columns() { return Isa<W>::N * W; }

// The scores of m <= M keys (one panel: k[d * m + i] is feature d of key i) against one group of queries (qt:
// `dim` rows), stored as m rows of s; their column-wise max folded into top.
template <int W, int M, int N>
GENPLUG_LANES_INLINE void score_tile(int m, const float* panel, int64_t dim, const float* qt, float* s,
                                     F<W> (&top)[N]) {
  if constexpr (M > 1)
    if (m < M) return score_tile<W, M - 1, N>(m, panel, dim, qt, s, top);
  constexpr int64_t G = group_columns<W>();
  // Zeroed lane by lane: `= {}` had GCC clear a stack copy with `rep stos` on every tile (3 % of the kernel's
  // time), though the sums live in registers. Every loop over the tile is unrolled: one left rolled makes acc an
  // array in memory, stored and reloaded around the products (5 %).
  F<W> acc[M][N];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
    for (int u = 0; u < N; ++u) acc[i][u] = splat<W>(0.0f);
  multiply_tile<W, M, N>(panel, 1, M, qt, G, dim, acc);
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
    for (int u = 0; u < N; ++u) {
      store<W>(s + i * G + u * W, acc[i][u]);
      top[u] = max_lanes<W>(top[u], acc[i][u]);
    }
}

// Rows e..e+m of one group's transposed output (m <= M value features: one panel of v from the tile's first key
// on, panel[j * m + i] is feature e + i of key j): ot = ot * alpha + v^T p over the tile's `keys` keys (p: the
// group's probabilities); ot = v^T p on the first tile.
template <int W, int M, int N>
GENPLUG_LANES_INLINE void value_tile(int m, const float* panel, const float* p, int64_t keys, const float* alpha,
                                     bool first, float* ot) {
  if constexpr (M > 1)
    if (m < M) return value_tile<W, M - 1, N>(m, panel, p, keys, alpha, first, ot);
  constexpr int64_t G = group_columns<W>();
  F<W> acc[M][N];  // unrolled as in score_tile
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
    for (int u = 0; u < N; ++u)
      acc[i][u] = first ? splat<W>(0.0f) : load<W>(ot + i * G + u * W) * load<W>(alpha + u * W);
  multiply_tile<W, M, N>(panel, 1, M, p, G, keys, acc);
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
    for (int u = 0; u < N; ++u) store<W>(ot + i * G + u * W, acc[i][u]);
}

// Query columns, padded to whole groups.
template <int W> int64_t columns(int64_t rows) {
  constexpr int64_t G = group_columns<W>();
  return (rows + G - 1) / G * G;
}

// The workspace, carved in order: qt [cols / G][dim][G], ot [cols / G][value_dim][G], then m, l and alpha [cols]
// each, and s [key tile][G] (one group's scores at a time).
struct Workspace {
  float *qt, *ot, *m, *l, *alpha, *s;
  int64_t dim, value_dim;
  // Group g's rows of qt and of ot.
  template <int W> float* queries(int64_t g) const { return qt + g * dim * group_columns<W>(); }
  template <int W> float* output(int64_t g) const { return ot + g * value_dim * group_columns<W>(); }
};
Workspace carve(float* w, int64_t cols, int64_t dim, int64_t value_dim) {
  Workspace ws{};
  ws.dim = dim;
  ws.value_dim = value_dim;
  ws.qt = w;
  ws.ot = ws.qt + dim * cols;
  ws.m = ws.ot + value_dim * cols;
  ws.l = ws.m + cols;
  ws.alpha = ws.l + cols;
  ws.s = ws.alpha + cols;
  return ws;
}

// qt: query c's feature d times log2(e) / sqrt(dim) at row d, column c % G of group c / G, by T x T tiles where
// whole (element by element, the transposes had taken 4 % of the kernel's time). The padding columns are zero
// queries, whose outputs are never written.
template <int W>
GENPLUG_LANES_INLINE void transpose_queries(const AttentionBlock& b, int64_t cols, const Workspace& ws) {
  constexpr int T = Isa<W>::T;
  constexpr int64_t G = group_columns<W>();
  static_assert(G % T == 0, "transpose tiles within a group");
  const float scale = float(1.4426950408889634 / std::sqrt(double(b.dim)));  // log2(e) / sqrt(dim)
  const auto one = [&](int64_t c, int64_t d) {
    ws.queries<W>(c / G)[d * G + c % G] = c < b.rows ? b.q[c * b.q_stride + d] * scale : 0.0f;
  };
  int64_t c = 0;
  for (; c + T <= b.rows; c += T) {
    float* group = ws.queries<W>(c / G) + c % G;
    int64_t d = 0;
    for (; d + T <= b.dim; d += T) {
      F<T> column[T];
      transpose_tile<T>(b.q + c * b.q_stride + d, b.q_stride, column);
#pragma GCC unroll 8
      for (int j = 0; j < T; ++j) store<T>(group + (d + j) * G, column[j] * scale);
    }
    for (; d < b.dim; ++d)
      for (int64_t i = c; i < c + T; ++i) one(i, d);
  }
  for (; c < cols; ++c)
    for (int64_t d = 0; d < b.dim; ++d) one(c, d);
}

// out[r][e] = ot's (e, r) / l[r], by T x T tiles where whole. Each 1 / l[r] is taken once, into alpha (free once
// the last key tile is done), not once per tile of features.
template <int W> GENPLUG_LANES_INLINE void write_output(const AttentionBlock& b, const Workspace& ws) {
  constexpr int T = Isa<W>::T;
  constexpr int64_t G = group_columns<W>();
  float* const inverse = ws.alpha;
  for (int64_t r = 0; r < b.rows; ++r) inverse[r] = 1.0f / ws.l[r];
  const auto one = [&](int64_t r, int64_t e) {
    b.out[r * b.out_stride + e] = ws.output<W>(r / G)[e * G + r % G] * inverse[r];
  };
  int64_t r = 0;
  for (; r + T <= b.rows; r += T) {
    const float* group = ws.output<W>(r / G) + r % G;
    int64_t e = 0;
    for (; e + T <= b.value_dim; e += T) {
      F<T> row[T];  // row[i]: query r + i's features e .. e + T
      transpose_tile<T>(group + e * G, G, row);
#pragma GCC unroll 8
      for (int i = 0; i < T; ++i) store<T>(b.out + (r + i) * b.out_stride + e, row[i] * inverse[r + i]);
    }
    for (; e < b.value_dim; ++e)
      for (int64_t i = r; i < r + T; ++i) one(i, e);
  }
  for (; r < b.rows; ++r)
    for (int64_t e = 0; e < b.value_dim; ++e) one(r, e);
}

// 2^x for x <= 0 or NaN: the scores less their running max, in base 2 (the queries carry log2(e), so that the
// range reduction is exact and needs no multiply). 2^x = 2^n 2^r with n = round(x) and r = x - n in [-1/2, 1/2]
// exactly; 2^r by a degree-6 polynomial fitted to the least largest relative error (2e-8; under 1e-7 evaluated in
// float, with or without fused multiply-adds, as exp_lanes' 1e-7). x is held >= -126, where 2^n is a normal
// float, by a max that keeps NaN. About half the instructions of exp_lanes, which clamps both ends, multiplies by
// log2(e) and reduces by ln 2 in two parts.
template <int W> GENPLUG_LANES_INLINE F<W> exp2_nonpositive(const F<W>& arg) {
  F<W> x = arg;
  Isa<W>::raise_to(splat<W>(-126.0f), &x);
  const F<W> shifter = splat<W>(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer in the low bits
  const F<W> t = x + shifter;
  const F<W> r = x - (t - shifter);
  const F<W> p = horner<W>(r, splat<W>(1.534579205e-4f), 1.339992974e-3f, 9.618489072e-3f, 5.550328642e-2f,
                           2.402264625e-1f, 6.931471825e-1f, 1.0f);
  const U<W> two_to_n = ((U<W>)t - (U<W>)shifter + 127u) << 23;  // as in exp_lanes
  return p * (F<W>)two_to_n;
}

// The online softmax over one key tile's scores of the group of queries from column c on (s [keys][G]), whose
// max over the tile is top (in base 2, as the scores). Each column's sum stays in a register over the keys, which
// go in order, as the formula's sum does.
template <int W, int N>
GENPLUG_LANES_INLINE void softmax_tile(int64_t keys, int64_t c, const F<W> (&top)[N], const Workspace& ws) {
  constexpr int64_t G = group_columns<W>();
  F<W> m[N], sum[N];  // in registers: every loop over u unrolled, as in score_tile
#pragma GCC unroll 8
  for (int u = 0; u < N; ++u) {
    const F<W> m_old = load<W>(ws.m + c + u * W);
    m[u] = max_lanes<W>(m_old, top[u]);
    store<W>(ws.alpha + c + u * W, exp2_nonpositive<W>(m_old - m[u]));
    store<W>(ws.m + c + u * W, m[u]);
    sum[u] = splat<W>(0.0f);
  }
  for (int64_t j = 0; j < keys; ++j)
#pragma GCC unroll 8
    for (int u = 0; u < N; ++u) {
      float* s = ws.s + j * G + u * W;
      const F<W> p = exp2_nonpositive<W>(load<W>(s) - m[u]);
      store<W>(s, p);
      sum[u] += p;
    }
#pragma GCC unroll 8
  for (int u = 0; u < N; ++u) {
    float* l = ws.l + c + u * W;
    store<W>(l, load<W>(l) * load<W>(ws.alpha + c + u * W) + sum[u]);
  }
}

// For each key tile, each group of queries runs its scores, softmax and values before the next group, so that its
// scores are still in the L1 cache when the softmax and the value products read them.
template <int W> GENPLUG_LANES_INLINE void attend(const AttentionBlock& b, float* workspace) {
  constexpr int M = Isa<W>::M, N = Isa<W>::N;
  constexpr int64_t G = group_columns<W>();
  static_assert(kAttentionKeyTile % M == 0, "key tiles of whole panels");
  const int64_t cols = columns<W>(b.rows), dim = b.dim, vd = b.value_dim;
  const Workspace ws = carve(workspace, cols, dim, vd);
  transpose_queries<W>(b, cols, ws);
  std::fill(ws.m, ws.m + cols, -std::numeric_limits<float>::infinity());
  std::fill(ws.l, ws.l + cols, 0.0f);
  for (int64_t t = 0; t < b.keys; t += kAttentionKeyTile) {
    const int64_t keys = std::min(kAttentionKeyTile, b.keys - t);
    for (int64_t c = 0; c < cols; c += G) {
      F<W> top[N];
#pragma GCC unroll 8
      for (int u = 0; u < N; ++u) top[u] = splat<W>(-std::numeric_limits<float>::infinity());
      for (int64_t j = 0; j < keys; j += M)  // t and the tile are whole panels
        score_tile<W, M, N>(int(std::min<int64_t>(M, keys - j)), b.k + (t + j) * dim, dim, ws.queries<W>(c / G),
                            ws.s + j * G, top);
      softmax_tile<W, N>(keys, c, top, ws);
      for (int64_t e = 0; e < vd; e += M) {
        const int m = int(std::min<int64_t>(M, vd - e));
        value_tile<W, M, N>(m, b.v + e * b.keys + t * m, ws.s, keys, ws.alpha + c, t == 0,
                            ws.output<W>(c / G) + e * G);
      }
    }
  }
  write_output<W>(b, ws);
}

__attribute__((target("avx512f"), flatten)) void attend_avx512(const AttentionBlock& b, float* w) {
  attend<16>(b, w);
}
__attribute__((target("avx2,fma"), flatten)) void attend_avx2(const AttentionBlock& b, float* w) { attend<8>(b, w); }
__attribute__((flatten)) void attend_baseline(const AttentionBlock& b, float* w) { attend<4>(b, w); }

// The register tile's broadcast rows at `level`: the width of the key and value panels.
int panel_rows(SimdLevel level) {
  switch (level) {
    case SimdLevel::avx512: return Isa<16>::M;
    case SimdLevel::avx2: return Isa<8>::M;
    case SimdLevel::baseline: return Isa<4>::M;
  }
  return 1;
}

template <int W> int64_t workspace_floats(int64_t rows, int64_t dim, int64_t value_dim) {
  const int64_t cols = columns<W>(std::max<int64_t>(rows, 1));
  return cols * (dim + value_dim + 3) + kAttentionKeyTile * group_columns<W>();
}

}  // namespace

int64_t attention_block_workspace(SimdLevel level, int64_t rows, int64_t dim, int64_t value_dim) {
  switch (level) {
    case SimdLevel::avx512: return workspace_floats<16>(rows, dim, value_dim);
    case SimdLevel::avx2: return workspace_floats<8>(rows, dim, value_dim);
    case SimdLevel::baseline: return workspace_floats<4>(rows, dim, value_dim);
  }
  return 0;
}

void pack_attention_keys(SimdLevel level, const float* k, int64_t stride, int64_t keys, int64_t dim, float* to) {
  const int64_t M = panel_rows(level);  // a multiple of 4
  for (int64_t g = 0; g < keys; g += M) {
    const int64_t m = std::min(M, keys - g);
    float* panel = to + g * dim;
    int64_t d = 0;
    if (m == M)  // whole panels by 4 x 4 transposes (SSE, which every level has): a third of the time
      for (; d + 4 <= dim; d += 4)
        for (int64_t i = 0; i < M; i += 4) {
          F<4> column[4];  // column[j]: feature d + j of keys g + i .. g + i + 3
          transpose_tile<4>(k + (g + i) * stride + d, stride, column);
          for (int j = 0; j < 4; ++j) store<4>(panel + (d + j) * M + i, column[j]);
        }
    for (; d < dim; ++d)
      for (int64_t i = 0; i < m; ++i) panel[d * m + i] = k[(g + i) * stride + d];
  }
}

void pack_attention_values(SimdLevel level, const float* v, int64_t stride, int64_t keys, int64_t value_dim,
                           float* to) {
  const int64_t M = panel_rows(level);
  // Key by key, so that each value row is read once, whole (panel by panel, every pass had read a few floats of
  // every row: the values of a slice again from L3 for each panel).
  for (int64_t j = 0; j < keys; ++j)
    for (int64_t e = 0; e < value_dim; e += M) {
      const int64_t m = std::min(M, value_dim - e);
      float* panel = to + e * keys;
      // Whole panels by copies of a constant size, which compile to vector moves.
      if (m == 4) std::memcpy(panel + j * 4, v + j * stride + e, 4 * sizeof(float));
      else if (m == 8) std::memcpy(panel + j * 8, v + j * stride + e, 8 * sizeof(float));
      else
        for (int64_t i = 0; i < m; ++i) panel[j * m + i] = v[j * stride + e + i];
    }
}

void attend_block(SimdLevel level, const AttentionBlock& block, float* workspace) {
  switch (level) {
    case SimdLevel::avx512: return attend_avx512(block, workspace);
    case SimdLevel::avx2: return attend_avx2(block, workspace);
    case SimdLevel::baseline: return attend_baseline(block, workspace);
  }
}

}  // namespace genplug::flux
