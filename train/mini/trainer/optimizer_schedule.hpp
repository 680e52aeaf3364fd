// Learning rate over training: linear warm-up, then a cosine from the peak down to `floor` x peak; the
// weights' moving average.
#pragma once
#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include <torch/optim/adamw.h>
#include <torch/utils.h>

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

// average = decay * average + (1 - decay) * weights, name by name (the weights that are saved).
inline void update_moving_average(std::map<std::string, torch::Tensor>& average,
                                  const std::map<std::string, torch::Tensor>& weights, double decay) {
  torch::NoGradGuard no_grad;
  for (auto& [name, a] : average) a.mul_(decay).add_(weights.at(name), 1.0 - decay);
}

}  // namespace genplug::mini
