// The online softmax step (online_softmax.hpp), written once with GCC/Clang vector extensions (vector_lanes.hpp)
// and compiled three times: AVX-512 (16 lanes), AVX2 + FMA (8) and the x86-64 baseline SSE2 (4). The build
// targets the baseline, so the wider copies are chosen at run time; none of them needs a tensor library.
#include "online_softmax.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "vector_lanes.hpp"

namespace genplug::flux {
namespace {

using namespace lanes;

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

void online_softmax_block(SimdLevel level, float* scores, int64_t rows, int64_t cols, int64_t stride, float* m,
                          float* l, float* alpha) {
  switch (level) {
    case SimdLevel::avx512: return block_avx512(scores, rows, cols, stride, m, l, alpha);
    case SimdLevel::avx2: return block_avx2(scores, rows, cols, stride, m, l, alpha);
    case SimdLevel::baseline: return block_baseline(scores, rows, cols, stride, m, l, alpha);
  }
}

}  // namespace genplug::flux
