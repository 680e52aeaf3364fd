// Rotary tables from a spectrum, and their application (BFL flux/math.py rope/apply_rope, generalised to
// arbitrary per-axis frequencies and amplitudes).
#include <genplug/flux/rotary.hpp>

#include <genplug/flux/float32_at_least.hpp>

#include <cmath>
#include <numeric>
#include <string>

#include <genplug/plugin.hpp>

namespace genplug::flux {

RotarySpectrum plain_spectrum(const std::vector<int64_t>& axes_dim, double theta) {
  RotarySpectrum s;
  s.axes_dim = axes_dim;
  for (int64_t d : axes_dim) {
    for (int64_t k = 0; k < d / 2; ++k) s.freqs.push_back(1.0 / std::pow(theta, double(2 * k) / double(d)));
    s.amplitude.push_back(1.0);
  }
  return s;
}

torch::Tensor flux_position_ids(int64_t txt_tokens, int64_t grid_h, int64_t grid_w, int64_t axis_count) {
  if (axis_count < 3) throw InvalidArgument("flux_position_ids: FLUX ids need at least 3 axes");
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  torch::Tensor ids = torch::zeros({txt_tokens + grid_h * grid_w, axis_count}, opts);
  torch::Tensor img = ids.narrow(0, txt_tokens, grid_h * grid_w).view({grid_h, grid_w, axis_count});
  img.select(2, 1).copy_(torch::arange(grid_h, opts).unsqueeze(1).expand({grid_h, grid_w}));
  img.select(2, 2).copy_(torch::arange(grid_w, opts).unsqueeze(0).expand({grid_h, grid_w}));
  return ids;
}

namespace {

// cos/sin of pos x freq per axis, times the axis's amplitude; rounded to float32 (the model's tables) or not (a
// float64 reference run's).
RotaryTables tables(const torch::Tensor& ids, const RotarySpectrum& spectrum, torch::Device device, bool float32) {
  const int64_t axes = int64_t(spectrum.axes_dim.size());
  if (ids.dim() != 2 || ids.size(1) != axes)
    throw InvalidArgument("rotary_tables: ids must be [L, " + std::to_string(axes) + "]");
  const int64_t pairs =
      std::accumulate(spectrum.axes_dim.begin(), spectrum.axes_dim.end(), int64_t(0)) / 2;
  if (int64_t(spectrum.freqs.size()) != pairs || int64_t(spectrum.amplitude.size()) != axes)
    throw InvalidArgument("rotary_tables: spectrum holds " + std::to_string(spectrum.freqs.size()) +
                          " freqs and " + std::to_string(spectrum.amplitude.size()) + " amplitudes; the layout needs " +
                          std::to_string(pairs) + " and " + std::to_string(axes));
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  // Built where the model runs: only the spectrum (a few hundred doubles) crosses to the device per step.
  torch::Tensor pos = ids.to(device, torch::kFloat64);
  const auto f64_on_device = torch::TensorOptions().dtype(torch::kFloat64).device(device);
  std::vector<torch::Tensor> cos_parts, sin_parts;
  int64_t offset = 0;
  for (int64_t a = 0; a < axes; ++a) {
    const int64_t n = spectrum.axes_dim[a] / 2;
    torch::Tensor freqs =
        torch::from_blob(const_cast<double*>(spectrum.freqs.data() + offset), {n}, f64).to(f64_on_device);
    torch::Tensor angle = pos.select(1, a).unsqueeze(1) * freqs.unsqueeze(0);  // float64, [L, n]
    torch::Tensor c = angle.cos(), s = angle.sin();
    if (float32) {
      c = c.to(torch::kFloat32);
      s = s.to(torch::kFloat32);
    }
    const double amp = float32 ? double(float(spectrum.amplitude[a])) : spectrum.amplitude[a];
    if (amp != 1.0) {  // DyPE/YaRN-style attention scaling, in float32 like the reference (float64 tables: exact)
      c = c * amp;
      s = s * amp;
    }
    cos_parts.push_back(c);
    sin_parts.push_back(s);
    offset += n;
  }
  return {torch::cat(cos_parts, 1), torch::cat(sin_parts, 1)};
}

}  // namespace

RotaryTables rotary_tables(const torch::Tensor& ids, const RotarySpectrum& spectrum, torch::Device device) {
  return tables(ids, spectrum, device, true);
}

RotaryTables rotary_tables_float64(const torch::Tensor& ids, const RotarySpectrum& spectrum, torch::Device device) {
  return tables(ids, spectrum, device, false);
}

torch::Tensor apply_rotary(const torch::Tensor& x, const RotaryTables& t) {
  const int64_t L = x.size(2), D = x.size(3);
  if (t.cos.size(0) != L || t.cos.size(1) * 2 != D)
    throw InvalidArgument("apply_rotary: tables are [" + std::to_string(t.cos.size(0)) + ", " +
                          std::to_string(t.cos.size(1)) + "] but x has " + std::to_string(L) + " tokens of dim " +
                          std::to_string(D));
  // float32 at least, as BFL's apply_rope.
  torch::Tensor x32 = x.to(float32_at_least(x.scalar_type())).reshape({x.size(0), x.size(1), L, D / 2, 2});
  torch::Tensor x0 = x32.select(-1, 0), x1 = x32.select(-1, 1);
  torch::Tensor y0 = t.cos * x0 - t.sin * x1;  // [[cos, -sin], [sin, cos]] per pair (2k, 2k+1)
  torch::Tensor y1 = t.sin * x0 + t.cos * x1;
  return torch::stack({y0, y1}, -1).reshape(x.sizes()).to(x.scalar_type());
}

}  // namespace genplug::flux
