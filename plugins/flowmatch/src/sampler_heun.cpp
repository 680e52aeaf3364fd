// Heun (k-diffusion sample_heun, flow-matching form): an Euler predictor to s_next, then the trapezoidal
// corrector x <- x + (s_next - s) (v(x, s) + v(x_pred, s_next)) / 2. Second order.
//
// The last step is a plain Euler step. For a full run it ends at sigma 0, where k-diffusion also skips the
// corrector (it would evaluate the model on the finished image); for a schedule that stops early the rule
// keeps the evaluation count a function of the step count alone (2N - 1), as evaluation_count promises,
// and a single first-order step adds only O(h^2) to the error, so the method stays second order. diffusers'
// FlowMatchHeunDiscreteScheduler does the same, so on such a schedule it is the one this matches.
#include "sampler.hpp"

namespace genplug::flowmatch {

namespace {

class HeunSampler final : public Sampler {
 public:
  uint64_t evaluation_count(uint32_t sigma_count) const override {
    return sigma_count < 2 ? 0 : 2 * uint64_t(sigma_count - 1) - 1;
  }

  void run(SamplingRun& run) const override {
    const auto& s = run.sigmas();
    const TensorOps& ops = run.ops();
    const Tensor x = run.latent();
    ScratchTensor v(ops, x), x_pred(ops, x), v_pred(ops, x);
    for (size_t i = 0; i < run.steps(); ++i) {
      const double dt = s[i + 1] - s[i];
      run.velocity(x, s[i], v.get());
      if (dt == 0.0) {  // zero-length step: its evaluations are made (the count promises them), x unchanged
        if (i + 1 < run.steps()) run.velocity(x, s[i + 1], v_pred.get());
        continue;
      }
      if (i + 1 == run.steps()) {
        ops.combine(x, {{x, 1.0}, {v.get(), dt}});
        continue;
      }
      ops.combine(x_pred.get(), {{x, 1.0}, {v.get(), dt}});
      run.velocity(x_pred.get(), s[i + 1], v_pred.get());
      ops.combine(x, {{x, 1.0}, {v.get(), dt / 2}, {v_pred.get(), dt / 2}});
    }
  }
};

}  // namespace

std::unique_ptr<Sampler> make_heun_sampler() { return std::make_unique<HeunSampler>(); }

}  // namespace genplug::flowmatch
