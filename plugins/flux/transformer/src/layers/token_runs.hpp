// A block's per-token work (its MLP with LayerNorm, modulation and gate; the single block's linear2) done over
// runs of tokens: its intermediates then take one run's memory, not the sequence's (at 4096², 66 048 tokens, the
// single block's MLP input alone is 5.4 GB in float32). Only attention needs every token at once.
#pragma once
#include <algorithm>

#include <torch/types.h>

#include <genplug/flux/transformer.hpp>

#include "../worker_threads.hpp"

namespace genplug::flux::layers {

// What bounds a block's working memory beyond its inputs and outputs.
struct BlockMemory {
  int64_t attention_budget = kDefaultAttentionBudgetBytes;  // one score block (attention.hpp)
  int64_t token_run = kDefaultTokenRun;                     // tokens per run of the per-token work; <= 0: all
};

// x [B, L, ...] -> the [B, L, ...] tensor whose tokens [begin, begin + count) are `part(begin, count)`, computed
// over runs of at most `run` tokens, evened out (5 000 tokens in runs of 2 048: 1 667, 1 667 and 1 666),
// each written into the result as it is made. One call over all tokens when `run` <= 0 or it covers them, and
// under autograd recording, whose saved tensors would keep every run's intermediates anyway.
template <class Part>
torch::Tensor over_token_runs(const torch::Tensor& x, int64_t run, Part&& part) {
  const int64_t tokens = x.size(1);
  if (run <= 0 || tokens <= run || torch::GradMode::is_enabled()) return part(int64_t(0), tokens);
  const int64_t each = evened_run(tokens, run);
  torch::Tensor out = torch::empty_like(x);
  for (int64_t begin = 0; begin < tokens; begin += each) {
    const int64_t count = std::min(each, tokens - begin);
    out.narrow(1, begin, count).copy_(part(begin, count));
  }
  return out;
}

}  // namespace genplug::flux::layers
