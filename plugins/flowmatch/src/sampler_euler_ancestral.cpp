// Euler ancestral in the flow-matching form (as ComfyUI's sample_euler_ancestral_RF): each step goes
// deterministically down to s_down < s_next and re-noises back up to s_next, keeping the marginal
// x_s = (1 - s) x0 + s n:
//   s_down   = s_next (1 + (s_next / s - 1) eta)
//   x_down   = x + (s_down - s) v(x, s)                       (Euler to s_down)
//   x        = (alpha_next / alpha_down) x_down + c n,   c^2 = s_next^2 - s_down^2 alpha_next^2 / alpha_down^2
// with alpha = 1 - s and n the host's normal(seed, step). eta = 0 is Euler; the step to s_next = 0 is the
// plain x <- x - s v (no noise). One evaluation per step.
#include <algorithm>
#include <cmath>

#include "sampler.hpp"

namespace genplug::flowmatch {

namespace {

class EulerAncestralSampler final : public Sampler {
 public:
  explicit EulerAncestralSampler(double eta) : eta_(eta) {}

  uint64_t evaluation_count(uint32_t sigma_count) const override { return sigma_count < 2 ? 0 : sigma_count - 1; }

  void run(SamplingRun& run) const override {
    const auto& s = run.sigmas();
    const TensorOps& ops = run.ops();
    const Tensor x = run.latent();
    ScratchTensor v(ops, x);
    std::unique_ptr<ScratchTensor> noise;  // only when re-noising happens
    if (eta_ > 0.0) noise = std::make_unique<ScratchTensor>(ops, x);
    if (renoises(s)) ops.require_normal();  // refused before the first evaluation, not after it
    for (size_t i = 0; i < run.steps(); ++i) {
      run.velocity(x, s[i], v.get());
      const double s_next = s[i + 1];
      if (s_next == s[i]) continue;  // zero-length step: evaluated (as BFL), x unchanged (no 0/0 at s = 1)
      if (s_next == 0.0 || eta_ == 0.0) {
        ops.combine(x, {{x, 1.0}, {v.get(), s_next - s[i]}});
        continue;
      }
      const double s_down = s_next * (1.0 + (s_next / s[i] - 1.0) * eta_);
      const double scale = (1.0 - s_next) / (1.0 - s_down);
      const double renoise = std::sqrt(std::max(0.0, s_next * s_next - s_down * s_down * scale * scale));
      ops.normal(noise->get(), run.seed(), i);
      ops.combine(x, {{x, scale}, {v.get(), scale * (s_down - s[i])}, {noise->get(), renoise}});
    }
  }

 private:
  // True when some step re-noises (eta > 0, a step of non-zero length that does not end at 0): only then is the
  // host's normal() needed.
  bool renoises(const std::vector<double>& s) const {
    for (size_t i = 0; eta_ > 0.0 && i + 1 < s.size(); ++i)
      if (s[i + 1] != s[i] && s[i + 1] != 0.0) return true;
    return false;
  }

  double eta_;
};

}  // namespace

std::unique_ptr<Sampler> make_euler_ancestral_sampler(double eta) {
  return std::make_unique<EulerAncestralSampler>(eta);
}

}  // namespace genplug::flowmatch
