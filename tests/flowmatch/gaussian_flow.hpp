// An analytic flow with a known exact solution, for convergence tests. Each element j has Gaussian data
// x0 ~ N(m_j, c_j^2) and Gaussian noise; the flow-matching velocity E[noise - x0 | x_s] of the marginal
// x_s = (1 - s) x0 + s n ~ N((1 - s) m, sd(s)^2), sd(s)^2 = (1 - s)^2 c^2 + s^2, is affine in x:
//   v(x, s) = -m + (s - (1 - s) c^2) / sd(s)^2 * (x - (1 - s) m),
// and its ODE transports quantiles exactly: x(s) = (1 - s) m + sd(s) z with z = (x(s0) - (1 - s0) m) / sd(s0).
// The field is curved in s (not a straight line), so every sampler has a genuine discretisation error.
#pragma once

#include <atomic>
#include <cmath>
#include <vector>

#include <genplug/scheduler.h>

#include "vector_ops.hpp"

namespace genplug::test {

struct GaussianFlow {
  std::vector<double> mean, scale;  // m_j, c_j

  double variance(size_t j, double s) const {
    return (1 - s) * (1 - s) * scale[j] * scale[j] + s * s;
  }
  double velocity(size_t j, double x, double s) const {
    const double m = mean[j], c2 = scale[j] * scale[j];
    return -m + (s - (1 - s) * c2) / variance(j, s) * (x - (1 - s) * m);
  }
  // The exact ODE solution at s1 from x at s0.
  std::vector<double> solve(const std::vector<double>& x, double s0, double s1) const {
    std::vector<double> out(x.size());
    for (size_t j = 0; j < x.size(); ++j) {
      const double z = (x[j] - (1 - s0) * mean[j]) / std::sqrt(variance(j, s0));
      out[j] = (1 - s1) * mean[j] + std::sqrt(variance(j, s1)) * z;
    }
    return out;
  }
};

// The host's velocity callback over a GaussianFlow, recording what the sampler asked, and able to stop
// the run: by returning GENPLUG_E_CANCELLED, by raising the context's cancel flag, or by failing.
struct VelocityProbe {
  const GaussianFlow* flow = nullptr;
  uint64_t calls = 0;
  std::vector<double> sigmas_seen;
  uint64_t cancel_on_call = 0;          // return GENPLUG_E_CANCELLED on this call (1-based; 0 = never)
  uint64_t raise_flag_on_call = 0;      // set *flag during this call
  std::atomic<bool>* flag = nullptr;
  uint64_t fail_on_call = 0;            // return GENPLUG_E_DEVICE on this call

  static genplug_status callback(void* user, genplug_tensor_handle x, double sigma, genplug_tensor_handle out) {
    auto& p = *static_cast<VelocityProbe*>(user);
    ++p.calls;
    p.sigmas_seen.push_back(sigma);
    if (p.calls == p.cancel_on_call) return GENPLUG_E_CANCELLED;
    if (p.calls == p.fail_on_call) return GENPLUG_E_DEVICE;
    if (p.calls == p.raise_flag_on_call && p.flag) p.flag->store(true);
    const std::vector<double>& in = VectorOps::tensor(x).data;
    std::vector<double>& v = VectorOps::tensor(out).data;
    if (v.size() != in.size()) return GENPLUG_E_INVALID_ARGUMENT;
    for (size_t j = 0; j < in.size(); ++j) v[j] = p.flow->velocity(j, in[j], sigma);
    return GENPLUG_OK;
  }
};

inline genplug_sample_request_t make_request(const std::vector<double>& sigmas, VectorTensor& latent,
                                             const VectorOps& ops, VelocityProbe& probe, uint64_t seed = 0) {
  genplug_sample_request_t r{};
  r.struct_size = sizeof(r);
  r.sigmas = sigmas.data();
  r.sigma_count = static_cast<uint32_t>(sigmas.size());
  r.latent = VectorOps::handle(latent);
  r.ops = ops.table();
  r.velocity = &VelocityProbe::callback;
  r.velocity_user = &probe;
  r.seed = seed;
  return r;
}

}  // namespace genplug::test
