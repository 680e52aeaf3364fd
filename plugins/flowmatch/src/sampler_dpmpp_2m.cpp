// DPM-Solver++(2M) (Lu et al. 2022) in the flow-matching parametrisation, as diffusers'
// DPMSolverMultistepScheduler with flow sigmas and flow prediction computes it:
// x_s = alpha x0 + sigma n with alpha = 1 - s, sigma = s, lambda = log(alpha / sigma), and the data
// prediction x0 = x - s v. One step from s to s_next with h = lambda_next - lambda_s:
//   x <- (s_next / s) x + alpha_next (1 - e^-h) D,
//   D = (1 + 1/(2r)) x0_i - 1/(2r) x0_{i-1},  r = h_{i-1} / h   (second order, multistep),
// with D = x0_i (first order) on the first step, after a step that starts at s = 1 (lambda = -inf, so
// r = inf) and on the final step to s_next = 0, where the update is x <- x0_i. One evaluation per step.
// k-diffusion's sample_dpmpp_2m, run on a flow model as ComfyUI runs it, has the same coefficients but takes
// lambda = -log s for r, so its values differ (docs/schedulers.md).
#include <cmath>
#include <limits>

#include "sampler.hpp"

namespace genplug::flowmatch {

namespace {

// lambda(s) = log((1 - s) / s): -inf at s = 1, +inf at s = 0.
double half_log_snr(double s) { return std::log1p(-s) - std::log(s); }

class DpmPP2MSampler final : public Sampler {
 public:
  uint64_t evaluation_count(uint32_t sigma_count) const override { return sigma_count < 2 ? 0 : sigma_count - 1; }

  void run(SamplingRun& run) const override {
    const auto& s = run.sigmas();
    const TensorOps& ops = run.ops();
    const Tensor x = run.latent();
    ScratchTensor v(ops, x), x0(ops, x), x0_previous(ops, x);
    double h_previous = std::numeric_limits<double>::infinity();  // no usable history yet
    for (size_t i = 0; i < run.steps(); ++i) {
      run.velocity(x, s[i], v.get());
      if (s[i + 1] == s[i]) continue;  // zero-length step: evaluated, x and the history unchanged (h = 0 or NaN)
      ops.combine(x0.get(), {{x, 1.0}, {v.get(), -s[i]}});
      if (s[i + 1] == 0.0) {
        ops.combine(x, {{x0.get(), 1.0}});
      } else {
        const double h = half_log_snr(s[i + 1]) - half_log_snr(s[i]);  // +inf when s[i] = 1
        const double ratio = s[i + 1] / s[i];
        const double c = (1.0 - s[i + 1]) * -std::expm1(-h);  // alpha_next (1 - e^-h)
        if (std::isfinite(h_previous)) {
          const double half_inv_r = h / (2.0 * h_previous);
          ops.combine(x, {{x, ratio}, {x0.get(), c * (1.0 + half_inv_r)}, {x0_previous.get(), -c * half_inv_r}});
        } else {
          ops.combine(x, {{x, ratio}, {x0.get(), c}});
        }
        h_previous = h;
      }
      swap(x0, x0_previous);
    }
  }
};

}  // namespace

std::unique_ptr<Sampler> make_dpmpp_2m_sampler() { return std::make_unique<DpmPP2MSampler>(); }

}  // namespace genplug::flowmatch
