#include "schedule_math.hpp"

#include <cmath>

namespace genplug::flowmatch {

std::vector<float> torch_linspace_f32(float start, float end, uint32_t count, const TorchLinspaceKernel& kernel) {
  std::vector<float> out(count);
  if (count == 0) return out;
  if (count == 1) {
    out[0] = start;
    return out;
  }
  const int64_t steps = count;
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int64_t halfway = steps / 2;
  // A kernel compiled with FMA contracts these two into one fused multiply-add (one rounding); the arange lanes
  // below round the product and the sum apart in every kernel.
  auto scalar_at = [&](int64_t idx) -> float {
    const float from_start = static_cast<float>(idx), from_end = static_cast<float>(steps - idx - 1);
    if (kernel.fused)
      return idx < halfway ? std::fma(step, from_start, start) : std::fma(-step, from_end, end);
    return idx < halfway ? start + step * from_start : end - step * from_end;
  };
  int64_t i = 0;
  const int64_t w = kernel.lanes;
  // at::native::vectorized_loop: two vectors per iteration while two whole vectors remain.
  for (; i <= steps - 2 * w; i += 2 * w) {
    for (int64_t block = i; block < i + 2 * w; block += w) {
      const float base = scalar_at(block);
      for (int64_t k = 0; k < w; ++k) out[block + k] = base + static_cast<float>(k) * step;
    }
  }
  for (; i < steps; ++i) out[i] = scalar_at(i);
  return out;
}

std::vector<double> numpy_linspace_f64(double start, double stop, uint32_t count) {
  std::vector<double> out(count);
  if (count == 0) return out;
  if (count == 1) {
    out[0] = start;
    return out;
  }
  const double step = (stop - start) / static_cast<double>(count - 1);
  for (uint32_t i = 0; i < count; ++i) out[i] = static_cast<double>(i) * step + start;
  out[count - 1] = stop;
  return out;
}

double mu_for_tokens(uint64_t image_tokens, double base_shift, double max_shift, double base_tokens,
                     double max_tokens) {
  const double m = (max_shift - base_shift) / (max_tokens - base_tokens);
  const double b = base_shift - m * base_tokens;
  return m * static_cast<double>(image_tokens) + b;
}

float time_shift_torch_f32(double mu, float t) {
  if (t == 0.0f) return 0.0f;  // torch: 1/0 = inf, e/(e + inf) = 0
  const float e = static_cast<float>(std::exp(mu));
  const float inv_t = 1.0f / t;              // Tensor.__rtruediv__ is reciprocal() * 1
  const float denominator = (inv_t - 1.0f) + e;  // ** 1.0 is an exact copy
  const float inv_denominator = 1.0f / denominator;
  return inv_denominator * e;                // e / tensor is reciprocal() * e
}

float time_shift_numpy_f32(double mu, float t) {
  if (t == 0.0f) return 0.0f;
  const float e = static_cast<float>(std::exp(mu));
  const float shifted = 1.0f / t - 1.0f;
  const float denominator = e + shifted;
  return e / denominator;
}

double time_shift_f64(double mu, double t) {
  if (t == 0.0) return 0.0;
  const double e = std::exp(mu);
  return e / (e + (1.0 / t - 1.0));  // (1/t - 1) first: exactly 0 at t = 1, so sigma(1) = 1
}

std::vector<double> bfl_schedule_f32(uint32_t n, const double* mu, const TorchLinspaceKernel& kernel) {
  const std::vector<float> t = torch_linspace_f32(1.0f, 0.0f, n + 1, kernel);
  std::vector<double> out(t.size());
  for (size_t i = 0; i < t.size(); ++i) out[i] = mu ? time_shift_torch_f32(*mu, t[i]) : t[i];
  return out;
}

}  // namespace genplug::flowmatch
