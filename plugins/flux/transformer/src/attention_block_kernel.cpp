// The attention block kernel (attention_block_kernel.hpp). Queries run along the vector lanes: the block's
// queries are transposed once into columns (qt, scaled by 1/sqrt(d)), and for every tile of keys
//   s[j][c]  = sum_d k[j][d] qt[d][c]                   score tiles: M keys x N vectors of queries
//   m'[c]    = max(m[c], max_j s[j][c])                 folded into the score tiles while in registers
//   s[j][c] <- exp(s[j][c] - m'[c]),  alpha[c] = exp(m[c] - m'[c])
//   l[c]     = l[c] alpha[c] + sum_j s[j][c]
//   ot[e][c] = ot[e][c] alpha[c] + sum_j v[j][e] s[j][c] value tiles: M value features x N vectors of queries
// and out[c][e] = ot[e][c] / l[c] at the end. Every step is column-wise, so the softmax needs no horizontal
// reduction. Both products load queries or probabilities as whole vectors and broadcast k or v, which the caller
// packs once per head into panels of M rows (pack_attention_keys/values), so that each broadcast stream is
// contiguous, as a matrix library packs its operands. Against softmax(q k^T / sqrt(d)) v it differs in rounding
// only, as the blocked path does: the scale is applied to q, the output normalised once.
//
// Compiled three times (AVX-512 with 16 lanes, AVX2 + FMA with 8, SSE2 with 4) from one template. The templates
// are always inlined into the entry point of their instruction set, so every call passing a vector is made from
// a function compiled for that set (also at -O0); `flatten` then inlines the intrinsics' wrappers too.
#include "attention_block_kernel.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "vector_lanes.hpp"

namespace genplug::flux {
namespace {

using namespace lanes;

// Per instruction set: the register tile (M rows broadcast x N vectors loaded; M * N accumulators plus N + 1
// operands fit the register file: 32 zmm, 16 ymm or xmm) and one row of it, acc[u] += broadcast(*x) * row[u],
// by intrinsics, which carry their instruction set (GCC builds a generic broadcast element by element). Vectors
// pass by pointer: by value, a call from a function of another instruction set would change their ABI.
template <int W> struct Isa;
template <> struct Isa<16> {
  static constexpr int M = 8, N = 3;
  template <int n>
  __attribute__((target("avx512f"))) static void multiply_add(const float* x, const F<16>* row, F<16>* acc) {
    const __m512 b = _mm512_set1_ps(*x);
#pragma GCC unroll 8
    for (int u = 0; u < n; ++u) acc[u] = F<16>(_mm512_fmadd_ps(b, __m512(row[u]), __m512(acc[u])));
  }
};
template <> struct Isa<8> {
  static constexpr int M = 4, N = 3;
  template <int n>
  __attribute__((target("avx2,fma"))) static void multiply_add(const float* x, const F<8>* row, F<8>* acc) {
    const __m256 b = _mm256_set1_ps(*x);
#pragma GCC unroll 8
    for (int u = 0; u < n; ++u) acc[u] = F<8>(_mm256_fmadd_ps(b, __m256(row[u]), __m256(acc[u])));
  }
};
template <> struct Isa<4> {
  static constexpr int M = 4, N = 3;
  template <int n> static void multiply_add(const float* x, const F<4>* row, F<4>* acc) {
    const F<4> b = F<4>(_mm_set1_ps(*x));
#pragma GCC unroll 8
    for (int u = 0; u < n; ++u) acc[u] = b * row[u] + acc[u];  // SSE2 has no fused multiply-add
  }
};

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

// The scores of m <= M keys (one panel: k[d * m + i] is feature d of key i) against N vectors of queries (qt:
// `dim` rows, `cols` apart), stored as m rows of s (`cols` apart); their column-wise max folded into top.
template <int W, int M, int N>
GENPLUG_LANES_INLINE void score_tile(int m, const float* panel, int64_t dim, const float* qt, int64_t cols, float* s,
                                     F<W> (&top)[N]) {
  if constexpr (M > 1)
    if (m < M) return score_tile<W, M - 1, N>(m, panel, dim, qt, cols, s, top);
  // Zeroed lane by lane: `= {}` had GCC clear a stack copy with `rep stos` on every tile (3 % of the kernel's
  // time), though the sums live in registers.
  F<W> acc[M][N];
  for (int i = 0; i < M; ++i)
    for (int u = 0; u < N; ++u) acc[i][u] = splat<W>(0.0f);
  multiply_tile<W, M, N>(panel, 1, M, qt, cols, dim, acc);
  for (int i = 0; i < M; ++i)
    for (int u = 0; u < N; ++u) {
      store<W>(s + i * cols + u * W, acc[i][u]);
      top[u] = max_lanes<W>(top[u], acc[i][u]);
    }
}

// Rows e..e+m of the transposed output (m <= M value features: one panel of v from the tile's first key on,
// panel[j * m + i] is feature e + i of key j) for N vectors of queries: ot = ot * alpha + v^T p over the tile's
// `keys` keys (p: the probabilities, rows `cols` apart); ot = v^T p on the first tile.
template <int W, int M, int N>
GENPLUG_LANES_INLINE void value_tile(int m, const float* panel, const float* p, int64_t cols, int64_t keys,
                                     const float* alpha, bool first, float* ot) {
  if constexpr (M > 1)
    if (m < M) return value_tile<W, M - 1, N>(m, panel, p, cols, keys, alpha, first, ot);
  F<W> acc[M][N];
  for (int i = 0; i < M; ++i)
    for (int u = 0; u < N; ++u)
      acc[i][u] = first ? splat<W>(0.0f) : load<W>(ot + i * cols + u * W) * load<W>(alpha + u * W);
  multiply_tile<W, M, N>(panel, 1, M, p, cols, keys, acc);
  for (int i = 0; i < M; ++i)
    for (int u = 0; u < N; ++u) store<W>(ot + i * cols + u * W, acc[i][u]);
}

// Query columns, padded to whole register tiles.
template <int W> int64_t columns(int64_t rows) {
  constexpr int64_t tile = Isa<W>::N * W;
  return (rows + tile - 1) / tile * tile;
}

// The workspace, carved in order: qt [dim][cols], s [key tile][cols], ot [value_dim][cols], then m, l, alpha and
// top [cols] each.
struct Workspace {
  float *qt, *s, *ot, *m, *l, *alpha, *top;
};
Workspace carve(float* w, int64_t cols, int64_t dim, int64_t value_dim) {
  Workspace ws{};
  ws.qt = w;
  ws.s = ws.qt + dim * cols;
  ws.ot = ws.s + kAttentionKeyTile * cols;
  ws.m = ws.ot + value_dim * cols;
  ws.l = ws.m + cols;
  ws.alpha = ws.l + cols;
  ws.top = ws.alpha + cols;
  return ws;
}

// qt[d][c] = q[c][d] / sqrt(dim); the padding columns are zero queries, whose outputs are never written.
void transpose_queries(const AttentionBlock& b, int64_t cols, float* qt) {
  const float scale = float(1.0 / std::sqrt(double(b.dim)));
  for (int64_t d = 0; d < b.dim; ++d)
    for (int64_t c = 0; c < cols; ++c) qt[d * cols + c] = c < b.rows ? b.q[c * b.q_stride + d] * scale : 0.0f;
}

// The online softmax over one tile's scores s [keys][cols], column by column (top: the tile's column max on
// entry, used for the sums after).
template <int W> GENPLUG_LANES_INLINE void softmax_tile(int64_t keys, int64_t cols, const Workspace& ws) {
  for (int64_t c = 0; c < cols; c += W) {
    const F<W> m = load<W>(ws.m + c), m_new = max_lanes<W>(m, load<W>(ws.top + c));
    store<W>(ws.alpha + c, exp_lanes<W>(m - m_new));
    store<W>(ws.m + c, m_new);
    store<W>(ws.top + c, splat<W>(0.0f));
  }
  for (int64_t j = 0; j < keys; ++j)
    for (int64_t c = 0; c < cols; c += W) {
      const F<W> p = exp_lanes<W>(load<W>(ws.s + j * cols + c) - load<W>(ws.m + c));
      store<W>(ws.s + j * cols + c, p);
      store<W>(ws.top + c, load<W>(ws.top + c) + p);
    }
  for (int64_t c = 0; c < cols; c += W)
    store<W>(ws.l + c, load<W>(ws.l + c) * load<W>(ws.alpha + c) + load<W>(ws.top + c));
}

template <int W> GENPLUG_LANES_INLINE void attend(const AttentionBlock& b, float* workspace) {
  constexpr int M = Isa<W>::M, N = Isa<W>::N;
  static_assert(kAttentionKeyTile % M == 0, "key tiles of whole panels");
  const int64_t cols = columns<W>(b.rows), dim = b.dim, vd = b.value_dim;
  const Workspace ws = carve(workspace, cols, dim, vd);
  transpose_queries(b, cols, ws.qt);
  std::fill(ws.m, ws.m + cols, -std::numeric_limits<float>::infinity());
  std::fill(ws.l, ws.l + cols, 0.0f);
  for (int64_t t = 0; t < b.keys; t += kAttentionKeyTile) {
    const int64_t keys = std::min(kAttentionKeyTile, b.keys - t);
    for (int64_t c = 0; c < cols; c += N * W) {
      F<W> top[N];
      for (int u = 0; u < N; ++u) top[u] = splat<W>(-std::numeric_limits<float>::infinity());
      for (int64_t j = 0; j < keys; j += M)  // t and the tile are whole panels
        score_tile<W, M, N>(int(std::min<int64_t>(M, keys - j)), b.k + (t + j) * dim, dim, ws.qt + c, cols,
                            ws.s + j * cols + c, top);
      for (int u = 0; u < N; ++u) store<W>(ws.top + c + u * W, top[u]);
    }
    softmax_tile<W>(keys, cols, ws);
    for (int64_t c = 0; c < cols; c += N * W)
      for (int64_t e = 0; e < vd; e += M) {
        const int m = int(std::min<int64_t>(M, vd - e));
        value_tile<W, M, N>(m, b.v + e * b.keys + t * m, ws.s + c, cols, keys, ws.alpha + c, t == 0,
                            ws.ot + e * cols + c);
      }
  }
  for (int64_t r = 0; r < b.rows; ++r) {
    const float inverse = 1.0f / ws.l[r];
    for (int64_t e = 0; e < vd; ++e) b.out[r * b.out_stride + e] = ws.ot[e * cols + r] * inverse;
  }
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
  return cols * (dim + kAttentionKeyTile + value_dim + 4);
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
  const int64_t M = panel_rows(level);
  for (int64_t g = 0; g < keys; g += M) {
    const int64_t m = std::min(M, keys - g);
    float* panel = to + g * dim;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t d = 0; d < dim; ++d) panel[d * m + i] = k[(g + i) * stride + d];
  }
}

void pack_attention_values(SimdLevel level, const float* v, int64_t stride, int64_t keys, int64_t value_dim,
                           float* to) {
  const int64_t M = panel_rows(level);
  for (int64_t e = 0; e < value_dim; e += M) {
    const int64_t m = std::min(M, value_dim - e);
    float* panel = to + e * keys;
    for (int64_t j = 0; j < keys; ++j)
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
