// Rotary position tables of the FLUX transformer, built each call from a genplug spectrum (posenc.h).
//
//   angle[l, j] = ids[l, axis(j)] * freqs[j]            (float64)
//   cos[l, j]   = float32(cos(angle)) * amplitude[axis(j)], sin likewise
//
// Pair j rotates features (2j, 2j+1) of every head, as BFL's apply_rope does. Plain RoPE is the spectrum
// freqs = theta^(-2k/dims[a]) per axis with amplitude 1 (plain_spectrum).
#pragma once
#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace genplug::flux {

// Per-axis rotary frequencies and amplitudes, axis after axis (sum(axes_dim)/2 freqs, one amplitude per axis).
struct RotarySpectrum {
  std::vector<int64_t> axes_dim;
  std::vector<double> freqs;
  std::vector<double> amplitude;
};

// theta^(-2k/d) for each axis of dimension d, amplitude 1.
RotarySpectrum plain_spectrum(const std::vector<int64_t>& axes_dim, double theta);

// cos/sin per token and rotation pair: [L, head_dim/2], float32.
struct RotaryTables {
  torch::Tensor cos;
  torch::Tensor sin;
};

// The model's position ids for txt_tokens text tokens followed by a grid_h x grid_w image: [L, axis_count]
// float64; text rows are zero, image rows (0, row, col) (further axes, if any, zero).
torch::Tensor flux_position_ids(int64_t txt_tokens, int64_t grid_h, int64_t grid_w, int64_t axis_count = 3);

// Tables for `ids` ([L, axis_count], any real dtype) under `spectrum`, on `device`. Throws genplug::Error
// (GENPLUG_E_INVALID_ARGUMENT) when the spectrum and ids disagree.
RotaryTables rotary_tables(const torch::Tensor& ids, const RotarySpectrum& spectrum,
                           torch::Device device = torch::kCPU);

// The same tables in float64, not rounded to float32: a float64 reference run's (genplug-mini-precision, the
// golden tests' rounding bounds).
RotaryTables rotary_tables_float64(const torch::Tensor& ids, const RotarySpectrum& spectrum,
                                   torch::Device device = torch::kCPU);

// Rotates x [B, heads, L, head_dim] by the tables (computed in float32, float64 for float64 x; returned in x's
// dtype).
torch::Tensor apply_rotary(const torch::Tensor& x, const RotaryTables& tables);

}  // namespace genplug::flux
