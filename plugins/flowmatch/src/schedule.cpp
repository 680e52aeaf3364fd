#include "schedule.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <string>

#include <genplug/plugin.hpp>

#include "schedule_math.hpp"

namespace genplug::flowmatch {

namespace {

uint32_t resolve_steps(const ScheduleSettings& s, uint32_t steps) {
  if (s.kind == ScheduleKind::custom) {
    const uint32_t list_steps = static_cast<uint32_t>(s.custom_sigmas.size() - 1);
    if (steps != 0 && steps != list_steps)
      throw InvalidArgument("steps: the custom schedule (config.sigmas) has " + std::to_string(list_steps) +
                            " steps, " + std::to_string(steps) + " were asked");
    return list_steps;
  }
  if (steps == 0) {
    if (s.steps) return *s.steps;
    throw InvalidArgument("steps: must be at least 1 (or set config.steps)");
  }
  if (steps > kMaxSteps) throw InvalidArgument("steps: at most " + std::to_string(kMaxSteps) + ", got " + std::to_string(steps));
  return steps;
}

// The unshifted times t_i (i = 0..N, t_N = 0) and the shift, each in the chosen arithmetic.
std::vector<double> diffusers_float32(uint32_t n, const double* mu) {
  const std::vector<double> t = numpy_linspace_f64(1.0, 1.0 / n, n);  // np.linspace(1, 1/N, N)
  std::vector<double> out;
  out.reserve(n + 1);
  for (double ti : t) {
    const float t32 = static_cast<float>(ti);  // np.array(sigmas).astype(np.float32)
    out.push_back(mu ? time_shift_numpy_f32(*mu, t32) : t32);
  }
  out.push_back(0.0);  // the terminal sigma diffusers appends
  return out;
}

std::vector<double> closed_form_float64(uint32_t n, const double* mu) {
  std::vector<double> out(n + 1);
  for (uint32_t i = 0; i <= n; ++i) {
    const double t = static_cast<double>(n - i) / n;  // 1 - i/N, exact at both ends
    out[i] = mu ? time_shift_f64(*mu, t) : t;
  }
  return out;
}

// A number for a message in six significant digits: mu from max_shift 1e300 is 1e+300, not 300 digits.
std::string short_text(double x) {
  std::ostringstream out;
  out << std::setprecision(6) << x;
  return out.str();
}

}  // namespace

uint32_t zero_length_steps(const std::vector<double>& sigmas) {
  uint32_t k = 0;
  for (size_t i = 1; i < sigmas.size(); ++i) k += sigmas[i] == sigmas[i - 1];
  return k;
}

double schedule_mu(const ScheduleSettings& s, uint64_t image_tokens) {
  if (s.mu) return *s.mu;
  return mu_for_tokens(image_tokens, s.base_shift, s.max_shift, static_cast<double>(s.base_image_tokens),
                       static_cast<double>(s.max_image_tokens));
}

std::vector<double> make_schedule(const ScheduleSettings& s, uint32_t steps, uint64_t image_tokens) {
  const uint32_t n = resolve_steps(s, steps);
  if (s.kind == ScheduleKind::custom) return s.custom_sigmas;

  double mu = 0.0;
  const double* shift = nullptr;
  if (s.kind == ScheduleKind::flux) {
    mu = schedule_mu(s, image_tokens);
    if (const std::string range = mu_outside_range(mu, s.precision); !range.empty())
      throw InvalidArgument("image_tokens: " + std::to_string(image_tokens) + " tokens give mu = " + short_text(mu) +
                            ", outside what the time shift can represent (" + range +
                            ": a smaller image, or config.mu / base_shift / max_shift)");
    shift = &mu;
  }
  std::vector<double> sigmas;
  if (s.precision == Precision::float64)
    sigmas = closed_form_float64(n, shift);
  else if (s.spacing == Spacing::diffusers)
    sigmas = diffusers_float32(n, shift);
  else
    sigmas = bfl_schedule_f32(n, shift);
  // Near the largest mu (about 88.2 to 88.7), torch's float32 sigma(1) = (1 / e) * e rounds to 1 + 1 ulp, which
  // BFL's code would feed its model; a sigma is a fraction of noise, at most 1, as samplers check: held at 1 here
  // (the only change from the reference's values, and only where they leave [0, 1]).
  for (double& sigma : sigmas) sigma = std::min(sigma, 1.0);
  // At a large mu, float32 rounds 1 - (1/t - 1) e^-mu to exactly 1.0 for the first steps (BFL's own schedule
  // does; e.g. mu = 25.4 at 147 456 tokens): equal neighbours are zero-length steps and allowed, as in BFL.
  // A schedule that increases anywhere is an error.
  for (size_t i = 1; i < sigmas.size(); ++i)
    if (sigmas[i] > sigmas[i - 1])
      throw InvalidArgument("steps: " + std::to_string(n) + " steps at mu = " + std::to_string(mu) +
                            " give a schedule that increases at index " + std::to_string(i) + " (sigma " +
                            std::to_string(sigmas[i]) + "); use fewer steps, a smaller shift or precision float64");
  return sigmas;
}

}  // namespace genplug::flowmatch

