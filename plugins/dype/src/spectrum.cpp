// genplug DyPE — the spectrum math. Operation order mirrors the official float64 code so results agree to
// the last bits; see docs/dype.md for the formulas.
#include "genplug/dype/spectrum.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include <genplug/plugin.hpp>

namespace genplug::dype {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr uint32_t kMaxAxisDim = 1u << 16;  // sanity bound: a head dim beyond this is a corrupt layout

// The exponent 2j/dim of theta, as the official torch.arange(0, dim, 2, float64) / dim.
double exponent(uint32_t j, uint32_t dim) { return double(2 * j) / double(dim); }

// d / (d - 2), the NTK base exponent; an axis of dim 2 has only f_0 = 1, which no base change moves.
double ntk_exponent(uint32_t dim) { return dim > 2 ? double(dim) / double(dim - 2) : 0.0; }

// Plain path of the official get_1d_rotary_pos_embed: 1 / (theta * ntk_factor)^e / linear_factor.
void plain_frequencies(uint32_t dim, double theta, double ntk_factor, double linear_factor, double* freqs) {
  const double theta_ntk = theta * ntk_factor;
  for (uint32_t j = 0; j < dim / 2; ++j) freqs[j] = 1.0 / std::pow(theta_ntk, exponent(j, dim)) / linear_factor;
}

// The four YaRN thresholds at time t for the method's schedule.
YarnThresholds thresholds_at(const MethodConfig& config, double t) {
  YarnThresholds th = config.thresholds;
  if (config.method == Method::dy_yarn) {  // HEAD / paper v2: multiplied by kappa
    const double k = kappa(config, t);
    th.beta_0 *= k;
    th.beta_1 *= k;
    th.gamma_0 *= k;
    th.gamma_1 *= k;
  } else if (config.method == Method::dy_yarn_legacy) {  // Oct-2025 release: raised to kappa
    const double k = kappa(config, t);
    th.beta_0 = std::pow(th.beta_0, k);
    th.beta_1 = std::pow(th.beta_1, k);
    th.gamma_0 = std::pow(th.gamma_0, k);
    th.gamma_1 = std::pow(th.gamma_1, k);
  }
  return th;
}

// Official NTK-by-parts: PI -> NTK across the beta range, then -> base across the gamma range.
void yarn_frequencies(const MethodConfig& config, uint32_t dim, double theta, const AxisPlan& plan, double t,
                      double* freqs) {
  const double s = plan.scale;
  const double new_base = theta * std::pow(s, ntk_exponent(dim));
  const YarnThresholds th = thresholds_at(config, t);
  const RampRange beta = correction_range(th.beta_0, th.beta_1, dim, theta, plan.base_extent);
  const RampRange gamma = correction_range(th.gamma_0, th.gamma_1, dim, theta, plan.base_extent);
  for (uint32_t j = 0; j < dim / 2; ++j) {
    const double e = exponent(j, dim);
    const double theta_pow = std::pow(theta, e);
    const double f_base = 1.0 / theta_pow;
    const double f_linear = 1.0 / (s * theta_pow);
    const double f_ntk = 1.0 / std::pow(new_base, e);
    const double mask_beta = 1.0 - double(linear_ramp(j, beta));
    double f = f_linear * (1.0 - mask_beta) + f_ntk * mask_beta;
    const double mask_gamma = 1.0 - double(linear_ramp(j, gamma));
    f = f * (1.0 - mask_gamma) + f_base * mask_gamma;
    freqs[j] = f;
  }
}

// Official find_correction_factor: the index whose wavelength completes `rotations` turns over the base.
double correction_factor(double rotations, uint32_t dim, double theta, double base_extent) {
  if (!(rotations > 0.0)) return HUGE_VAL;  // kappa(0) = 0: the limit, where the official code divides by zero
  return (double(dim) * std::log(base_extent / (rotations * 2.0 * kPi))) / (2.0 * std::log(theta));
}

InvalidArgument bad(const std::string& field, const std::string& rule, const std::string& got) {
  return InvalidArgument(field + ": " + rule + ", got " + got);
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// max(1, base^kappa(t)): dy-pi's divisor (base s) and dy-ntk's base factor (base s^(d/(d-2))), which `theta`
// multiplies there (1 for dy-pi). A factor that overflows a double is refused, naming lambda_s (kappa <= lambda_s),
// rather than a spectrum whose rotation is silently gone (every frequency but f_0 would be 0).
double dynamic_factor(const MethodConfig& config, double base, double theta, double t) {
  const double k = kappa(config, t), factor = std::max(1.0, std::pow(base, k));
  if (!std::isfinite(theta * factor))
    throw InvalidArgument("config.lambda_s: " + number(config.lambda_s) + " is too large for this size: the factor " +
                          number(base) + "^" + number(k) + " at t = " + number(t) + " overflows a double");
  return factor;
}

}  // namespace

Layout Layout::flux() { return Layout{{16, 56, 56}, 10000.0, {1, 64, 64}, 16}; }

genplug_rotary_layout_t Layout::view() const {
  genplug_rotary_layout_t l{};
  l.struct_size = sizeof(l);
  l.axis_count = static_cast<uint32_t>(axis_dims.size());
  l.axis_dims = axis_dims.data();
  l.theta = theta;
  l.base_extent = base_extent.data();
  l.pixels_per_token = pixels_per_token;
  l.axis_flags = axis_flags.empty() ? nullptr : axis_flags.data();
  return l;
}

std::size_t Layout::freq_count() const {
  std::size_t n = 0;
  for (uint32_t d : axis_dims) n += d / 2;
  return n;
}

float round_to_bf16(float value) {
  if (std::isnan(value)) return value;
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  bits += 0x7FFFu + ((bits >> 16) & 1u);  // round half to even on the 16 dropped bits
  bits &= 0xFFFF0000u;
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

double effective_t(const MethodConfig& config, double t) {
  if (config.t_rounding == TimeRounding::exact) return t;
  // scheduler: timesteps = sigmas (float32) * 1000 in float32; pipeline: .to(bfloat16) / 1000 in bfloat16.
  const float timestep = round_to_bf16(float(t) * 1000.0f);
  const double rounded = double(round_to_bf16(timestep / 1000.0f));
  return std::min(std::max(rounded, 0.0), 1.0);
}

// u = 1 if t >= a; 0 if t <= b; else (t - b) / (a - b). The middle branch needs b < t < a, so a == b never
// divides; with the defaults (a = 1, b = 0) u is t bit for bit, which keeps the official spectra.
double schedule_position(const DynamicWindow& window, double t) {
  if (t >= window.start_sigma) return 1.0;
  if (t <= window.end_sigma) return 0.0;
  return (t - window.end_sigma) / (window.start_sigma - window.end_sigma);
}

double kappa(const MethodConfig& config, double t) {
  return config.lambda_s * std::pow(schedule_position(config.window, t), config.lambda_t);
}

RampRange correction_range(double fast_rotations, double slow_rotations, uint32_t dim, double theta,
                           double base_extent) {
  const double half = double(dim / 2);
  double low = std::floor(correction_factor(fast_rotations, dim, theta, base_extent));
  double high = std::ceil(correction_factor(slow_rotations, dim, theta, base_extent));
  low = std::max(low, 0.0);
  high = std::min(high, double(dim - 1));
  high = std::min(half, high);
  low = std::min(low, half);  // genplug: keeps low <= high (see header)
  return {low, high};
}

float linear_ramp(uint32_t j, const RampRange& range) {
  double high = range.high;
  if (range.low == high) high += 0.001;  // the official singularity guard
  const float value = (float(j) - float(range.low)) / float(high - range.low);
  return std::min(std::max(value, 0.0f), 1.0f);
}

void axis_frequencies(const MethodConfig& config, uint32_t dim, double theta, const AxisPlan& plan, double t,
                      double* freqs) {
  if (!plan.scaled || !(plan.scale > 1.0)) {
    plain_frequencies(dim, theta, 1.0, 1.0, freqs);
    return;
  }
  const double s = plan.scale;
  switch (config.method) {
    case Method::rope:
      plain_frequencies(dim, theta, 1.0, 1.0, freqs);
      return;
    case Method::pi:
      plain_frequencies(dim, theta, 1.0, s, freqs);
      return;
    case Method::dy_pi:
      plain_frequencies(dim, theta, 1.0, dynamic_factor(config, s, 1.0, t), freqs);
      return;
    case Method::ntk:
      plain_frequencies(dim, theta, std::max(1.0, std::pow(s, ntk_exponent(dim))), 1.0, freqs);
      return;
    case Method::dy_ntk:
      plain_frequencies(dim, theta, dynamic_factor(config, std::pow(s, ntk_exponent(dim)), theta, t), 1.0, freqs);
      return;
    case Method::yarn:
    case Method::dy_yarn:
    case Method::dy_yarn_legacy:
      yarn_frequencies(config, dim, theta, plan, t, freqs);
      return;
  }
  plain_frequencies(dim, theta, 1.0, 1.0, freqs);
}

double axis_amplitude(const MethodConfig& config, const AxisPlan& plan) {
  if (!is_yarn_family(config.method) || !plan.scaled || !(plan.scale > 1.0)) return 1.0;
  return config.mscale_coefficient * std::log(plan.scale) + config.mscale_offset;
}

void validate_query(const MethodConfig& config, const genplug_rotary_layout_t& layout,
                    const uint32_t* target_extent, double t) {
  if (layout.axis_count == 0) throw bad("layout.axis_count", "must be >= 1", "0");
  if (!layout.axis_dims) throw InvalidArgument("layout.axis_dims: NULL");
  if (!layout.base_extent) throw InvalidArgument("layout.base_extent: NULL");
  if (!target_extent) throw InvalidArgument("query.target_extent: NULL");
  if (!std::isfinite(layout.theta) || !(layout.theta > 1.0))
    throw bad("layout.theta", "must be a finite number > 1", number(layout.theta));
  for (uint32_t a = 0; a < layout.axis_count; ++a) {
    const std::string idx = "[" + std::to_string(a) + "]";
    const uint32_t d = layout.axis_dims[a];
    if (d < 2 || d % 2 != 0 || d > kMaxAxisDim)
      throw bad("layout.axis_dims" + idx, "must be even, >= 2 and <= " + std::to_string(kMaxAxisDim),
                std::to_string(d));
    if (layout.base_extent[a] == 0) throw bad("layout.base_extent" + idx, "must be >= 1 token", "0");
    if (target_extent[a] == 0) throw bad("query.target_extent" + idx, "must be >= 1 token", "0");
  }
  if (!(t >= 0.0 && t <= 1.0)) throw bad("query.t", "must be in [0, 1]", number(t));
  if (config.base_resolution) {
    if (layout.pixels_per_token == 0)
      throw bad("layout.pixels_per_token", "must be >= 1 when config.base_resolution is set", "0");
    if (*config.base_resolution / layout.pixels_per_token == 0)
      throw InvalidArgument("config.base_resolution: " + std::to_string(*config.base_resolution) +
                            " px is less than one token of " + std::to_string(layout.pixels_per_token) + " px");
  }
}

// Whether axis `a` is spatial: as the model's layout flags it (ABI 1.1), else every axis but the index
// axis 0 (ABI 1.0's rule). Only spatial axes are rescaled; the official code scales FLUX's rows and cols.
bool spatial_axis(const genplug_rotary_layout_t& layout, uint32_t a) {
  if (GENPLUG_HAS_FIELD(&layout, genplug_rotary_layout_t, axis_flags) && layout.axis_flags)
    return (layout.axis_flags[a] & GENPLUG_AXIS_SPATIAL) != 0;
  return a > 0;
}

void plan_axes(const MethodConfig& config, const genplug_rotary_layout_t& layout, const uint32_t* target_extent,
               AxisPlan* plans) {
  double largest_ratio = 1.0;
  for (uint32_t a = 0; a < layout.axis_count; ++a) {
    AxisPlan& p = plans[a];
    const bool spatial = spatial_axis(layout, a);
    p.base_extent = double(layout.base_extent[a]);
    if (spatial && config.base_extent) p.base_extent = double(*config.base_extent);
    if (spatial && config.base_resolution)
      p.base_extent = double(*config.base_resolution / layout.pixels_per_token);  // floored, as 1024 // 16
    p.scale = double(target_extent[a]) / p.base_extent;
    p.scaled = spatial && p.scale > 1.0;  // strict, as the official current_patches > base_patches
    if (spatial) largest_ratio = std::max(largest_ratio, p.scale);
  }
  if (!config.isotropic) return;
  for (uint32_t a = 0; a < layout.axis_count; ++a) {
    if (!spatial_axis(layout, a)) continue;
    plans[a].scale = largest_ratio;
    plans[a].scaled = largest_ratio > 1.0;
  }
}

void compute_spectrum(const MethodConfig& config, const genplug_rotary_layout_t& layout,
                      const uint32_t* target_extent, double t, double* freqs, std::size_t freq_capacity,
                      double* amplitude, std::size_t amplitude_capacity) {
  validate_query(config, layout, target_extent, t);
  std::size_t needed = 0;
  for (uint32_t a = 0; a < layout.axis_count; ++a) needed += layout.axis_dims[a] / 2;
  if (!freqs || freq_capacity < needed)
    throw Error(GENPLUG_E_BUFFER_TOO_SMALL, "spectrum.freqs: room for " + std::to_string(freqs ? freq_capacity : 0) +
                                                " doubles, " + std::to_string(needed) + " needed");
  if (!amplitude || amplitude_capacity < layout.axis_count)
    throw Error(GENPLUG_E_BUFFER_TOO_SMALL, "spectrum.amplitude: room for " +
                                                std::to_string(amplitude ? amplitude_capacity : 0) + " doubles, " +
                                                std::to_string(layout.axis_count) + " needed");
  constexpr uint32_t kInlineAxes = 8;
  AxisPlan inline_plans[kInlineAxes];
  std::vector<AxisPlan> heap_plans;
  AxisPlan* plans = inline_plans;
  if (layout.axis_count > kInlineAxes) {
    heap_plans.resize(layout.axis_count);
    plans = heap_plans.data();
  }
  plan_axes(config, layout, target_extent, plans);
  t = effective_t(config, t);
  double* out = freqs;
  for (uint32_t a = 0; a < layout.axis_count; ++a) {
    axis_frequencies(config, layout.axis_dims[a], layout.theta, plans[a], t, out);
    amplitude[a] = axis_amplitude(config, plans[a]);
    out += layout.axis_dims[a] / 2;
  }
}

std::vector<AxisSpectrum> compute_spectrum(const MethodConfig& config, const Layout& layout,
                                           const std::vector<uint32_t>& target_extent, double t) {
  if (layout.base_extent.size() != layout.axis_dims.size())
    throw InvalidArgument("layout.base_extent: " + std::to_string(layout.base_extent.size()) + " values for " +
                          std::to_string(layout.axis_dims.size()) + " axes");
  if (!layout.axis_flags.empty() && layout.axis_flags.size() != layout.axis_dims.size())
    throw InvalidArgument("layout.axis_flags: " + std::to_string(layout.axis_flags.size()) + " values for " +
                          std::to_string(layout.axis_dims.size()) + " axes");
  if (target_extent.size() != layout.axis_dims.size())
    throw InvalidArgument("query.target_extent: " + std::to_string(target_extent.size()) + " values for " +
                          std::to_string(layout.axis_dims.size()) + " axes");
  const genplug_rotary_layout_t view = layout.view();
  std::vector<double> freqs(layout.freq_count());
  std::vector<double> amplitude(layout.axis_dims.size());
  compute_spectrum(config, view, target_extent.data(), t, freqs.data(), freqs.size(), amplitude.data(),
                   amplitude.size());
  std::vector<AxisSpectrum> axes(layout.axis_dims.size());
  std::size_t offset = 0;
  for (std::size_t a = 0; a < axes.size(); ++a) {
    const uint32_t n = layout.axis_dims[a] / 2;
    axes[a].dim = layout.axis_dims[a];
    axes[a].freqs.assign(freqs.begin() + long(offset), freqs.begin() + long(offset + n));
    axes[a].amplitude = amplitude[a];
    offset += n;
  }
  return axes;
}

}  // namespace genplug::dype
