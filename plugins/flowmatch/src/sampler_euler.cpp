// Euler, FLUX's own sampler (BFL denoise, diffusers FlowMatchEulerDiscreteScheduler.step):
// x <- x + (s_next - s) v(x, s). First order, one evaluation per step.
#include "sampler.hpp"

namespace genplug::flowmatch {

namespace {

class EulerSampler final : public Sampler {
 public:
  uint64_t evaluation_count(uint32_t sigma_count) const override { return sigma_count < 2 ? 0 : sigma_count - 1; }

  void run(SamplingRun& run) const override {
    const auto& s = run.sigmas();
    const TensorOps& ops = run.ops();
    const Tensor x = run.latent();
    ScratchTensor v(ops, x);
    for (size_t i = 0; i < run.steps(); ++i) {
      run.velocity(x, s[i], v.get());
      if (s[i + 1] == s[i]) continue;  // zero-length step: evaluated (as BFL), x unchanged
      ops.combine(x, {{x, 1.0}, {v.get(), s[i + 1] - s[i]}});
    }
  }
};

}  // namespace

std::unique_ptr<Sampler> make_euler_sampler() { return std::make_unique<EulerSampler>(); }

}  // namespace genplug::flowmatch
