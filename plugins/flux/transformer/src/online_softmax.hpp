// The element-wise step of an online softmax (FlashAttention-2, Dao 2023), one block of score rows at a time,
// vectorised for the CPU it runs on. No tensor library: plain float rows, so the kernel is testable alone.
#pragma once
#include <cstdint>

#include "simd_level.hpp"

namespace genplug::flux {

// One key block of an online softmax over `rows` rows of `cols` scores (row r at scores + r * stride):
//   m'   = max(m[r], max_j s[r][j])
//   s[r][j] <- exp(s[r][j] - m')               (the block's unnormalised probabilities, in place)
//   alpha[r] = exp(m[r] - m')                  (how much the output accumulated so far shrinks)
//   l[r] <- l[r] * alpha[r] + sum_j s[r][j],   m[r] <- m'
// Start a row with m = -inf and l = 0 (alpha is then 0). exp is a degree-6 polynomial on 2^n times
// exp(r), |r| <= ln2 / 2, relative error ~1e-7; arguments below -87.3 give ~1e-38, not 0.
void online_softmax_block(SimdLevel level, float* scores, int64_t rows, int64_t cols, int64_t stride, float* m,
                          float* l, float* alpha);

}  // namespace genplug::flux
