// Learning rate over training: linear warm-up, then a cosine from the peak down to `floor` x peak.
#pragma once
#include <algorithm>
#include <cmath>

#include <torch/optim/adamw.h>

namespace genplug::mini {

inline double scheduled_rate(double peak, long step, long total, long warmup, double floor = 0.1) {
  if (step < warmup) return peak * double(step + 1) / double(warmup);
  const double progress = std::min(1.0, double(step - warmup) / double(std::max(1L, total - warmup)));
  return peak * (floor + (1.0 - floor) * 0.5 * (1.0 + std::cos(M_PI * progress)));
}

inline void set_rate(torch::optim::AdamW& optimizer, double rate) {
  for (auto& group : optimizer.param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(rate);
}

}  // namespace genplug::mini
