// genplug DyPE — the spectrum math: a pure function from (method config, rotary layout, target extent, t)
// to per-axis frequencies and amplitude. No tensors, no allocation on the raw-buffer path.
//
// Exactness: every step follows the official float64 arithmetic of guyyariv/DyPE transformer_flux.py
// (same operation order), and the YaRN linear ramp is evaluated in float32 as the official
// linear_ramp_mask does; the result matches the official frequencies to ~1e-16 relative.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include <genplug/posenc.h>

#include "method.hpp"

namespace genplug::dype {

// A rotary layout owned by the caller (the C struct genplug_rotary_layout_t borrows from it).
struct Layout {
  std::vector<uint32_t> axis_dims;
  double theta = 10000.0;
  std::vector<uint32_t> base_extent;
  uint32_t pixels_per_token = 16;
  std::vector<uint32_t> axis_flags;  // GENPLUG_AXIS_* per axis; empty: every axis but axis 0 is spatial

  // FLUX.1: dims 16, 56, 56, theta 10000, trained at 64 x 64 tokens of 16 px.
  static Layout flux();
  genplug_rotary_layout_t view() const;
  std::size_t freq_count() const;
};

// How one axis is treated for a query: its base extent (tokens) and scale s (1 = untouched).
struct AxisPlan {
  double base_extent = 1.0;
  double scale = 1.0;
  bool scaled = false;  // s > 1 and not the index axis
};

// ---- axis level (no validation: dims even >= 2, theta > 1, base_extent > 0, t in [0, 1]) -------------

// dim/2 frequencies of one axis with scale `scale` (<= 1 or !scaled: plain RoPE) into `freqs`.
void axis_frequencies(const MethodConfig& config, uint32_t dim, double theta, const AxisPlan& plan, double t,
                      double* freqs);
// Amplitude factor of one axis (1 unless a YaRN-family method scales it).
double axis_amplitude(const MethodConfig& config, const AxisPlan& plan);

// The t the schedule uses for query time `t` (config.t_rounding), in [0, 1].
double effective_t(const MethodConfig& config, double t);
// Round-to-nearest-even float32 -> bfloat16 -> float32.
float round_to_bf16(float value);

// Position u in [0, 1] of schedule time t in the dynamic window [end_sigma, start_sigma]:
// 1 at t >= start_sigma, 0 at t <= end_sigma, linear between. start == end is a hard step at that t.
double schedule_position(const DynamicWindow& window, double t);

// kappa(t) = lambda_s * u^lambda_t with u = schedule_position(config.window, t); t is already effective_t.
double kappa(const MethodConfig& config, double t);

// Index range [low, high] of the official find_correction_range for rotation threshold pair (fast, slow), clamped
// to [0, dim/2]. The official code leaves `low` unclamped above, which inverts the ramp toward PI for a fast
// threshold r with L / (2 pi r) >= theta^(1 + 2/dim) (floor(C(r)) > dim/2): dy-yarn's at small t (FLUX: < 0.0242),
// where t = 0 divides by zero, and any YaRN's for a small theta or a long base extent (docs/dype.md, "a low index
// past d/2").
struct RampRange {
  double low = 0;
  double high = 0;
};
RampRange correction_range(double fast_rotations, double slow_rotations, uint32_t dim, double theta,
                           double base_extent);
// The official float32 ramp clamp((j - low) / (high - low), 0, 1), high bumped by 0.001 when equal.
float linear_ramp(uint32_t j, const RampRange& range);

// ---- layout level (validates; throws genplug::InvalidArgument / genplug::Error) ------------------------

// Checks a query: layout fields, one target extent >= 1 per axis, t in [0, 1]. Messages name the field
// ("layout.axis_dims[1]: must be even and >= 2, got 55").
void validate_query(const MethodConfig& config, const genplug_rotary_layout_t& layout,
                    const uint32_t* target_extent, double t);

// Per-axis plans: axis 0 never scaled; s = target / base when target > base; isotropic uses the largest
// spatial ratio for every spatial axis.
void plan_axes(const MethodConfig& config, const genplug_rotary_layout_t& layout, const uint32_t* target_extent,
               AxisPlan* plans);

// Validates, applies config.t_rounding, then writes sum(dims/2) frequencies (axis after axis) and one amplitude per axis. A short buffer
// throws genplug::Error(GENPLUG_E_BUFFER_TOO_SMALL) naming the needed size; nothing is written on failure.
void compute_spectrum(const MethodConfig& config, const genplug_rotary_layout_t& layout,
                      const uint32_t* target_extent, double t, double* freqs, std::size_t freq_capacity,
                      double* amplitude, std::size_t amplitude_capacity);

// Convenience form returning owned vectors.
struct AxisSpectrum {
  uint32_t dim = 0;
  std::vector<double> freqs;
  double amplitude = 1.0;
};
std::vector<AxisSpectrum> compute_spectrum(const MethodConfig& config, const Layout& layout,
                                           const std::vector<uint32_t>& target_extent, double t);

}  // namespace genplug::dype
