// BFL math.attention: rotate q and k by the tables, softmax attention, merge heads.
#pragma once
#include <genplug/flux/attention.hpp>
#include <genplug/flux/rotary.hpp>

#include "qk_norm.hpp"

namespace genplug::flux::layers {

inline torch::Tensor rope_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                    const RotaryTables& pe, int64_t budget_bytes) {
  return merge_heads(attention(apply_rotary(q, pe), apply_rotary(k, pe), v, budget_bytes));
}

}  // namespace genplug::flux::layers
