// QKNorm (BFL layers.py): RMSNorm with a learnt scale over each head's features, computed in float32 (in
// float64 for float64 inputs: genplug-mini-precision's reference trajectory).
#pragma once
#include <algorithm>
#include <vector>

#include <genplug/flux/float32_at_least.hpp>
#include <genplug/flux/rotary.hpp>

#include "../rms_norm_rope.hpp"
#include "../worker_threads.hpp"
#include "weights.hpp"

namespace genplug::flux::layers {

struct RMSNorm {
  torch::Tensor scale;  // [D]
  torch::Tensor operator()(const torch::Tensor& x) const {
    torch::Tensor wide = x.to(float32_at_least(x.scalar_type()));
    torch::Tensor r = torch::rsqrt(wide.pow(2).mean(-1, /*keepdim=*/true) + 1e-6);
    return (wide * r).to(x.scalar_type()) * scale;
  }
};

struct QKNorm {
  RMSNorm query_norm, key_norm;
  QKNorm() = default;
  QKNorm(const WeightReader& w, const std::string& name, int64_t head_dim)
      : query_norm{w.take(name + ".query_norm.scale", {head_dim})},
        key_norm{w.take(name + ".key_norm.scale", {head_dim})} {}
};

// [B, L, 3 * heads * D] -> q, k, v each [B, heads, L, D] (BFL "B L (K H D) -> K B H L D").
inline std::vector<torch::Tensor> split_qkv(const torch::Tensor& qkv, int64_t heads) {
  const int64_t B = qkv.size(0), L = qkv.size(1), D = qkv.size(2) / (3 * heads);
  return qkv.view({B, L, 3, heads, D}).permute({2, 0, 3, 1, 4}).unbind(0);
}

// One stream's queries or keys for the joint attention: its heads [B, heads, L_i, D] (any strides) and the
// QKNorm scale they take.
struct NormedStream {
  const RMSNorm& norm;
  torch::Tensor x;
};

// Whether norm_and_rotate() takes its one-pass kernel: float32 everywhere on the CPU, rows of D contiguous, and
// no autograd recording.
inline bool own_norm_rope_applies(const std::vector<NormedStream>& streams, const RotaryTables& pe,
                                  torch::ScalarType dtype) {
  const auto f32_cpu = [](const torch::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == torch::kFloat32; };
  if (dtype != torch::kFloat32 || !f32_cpu(pe.cos) || !f32_cpu(pe.sin) || !pe.cos.is_contiguous() ||
      !pe.sin.is_contiguous())
    return false;
  const bool recording = torch::GradMode::is_enabled();
  for (const NormedStream& s : streams)
    if (!f32_cpu(s.x) || !f32_cpu(s.norm.scale) || !s.norm.scale.is_contiguous() || s.x.stride(3) != 1 ||
        s.x.size(3) % 2 || (recording && (s.x.requires_grad() || s.norm.scale.requires_grad())))
      return false;
  return true;
}

// The streams' rows RMS-normalised, in `dtype`, concatenated along the tokens in the order given and rotated by
// the tables (which cover the concatenation): [B, heads, sum L_i, D]. own_norm_rope_applies(): one pass per
// (stream, batch, head) plane (rms_norm_rope.hpp), the planes over the cores, each written straight into its
// place; otherwise BFL's steps (norm, cast, cat, apply_rotary).
inline torch::Tensor norm_and_rotate(const std::vector<NormedStream>& streams, const RotaryTables& pe,
                                     torch::ScalarType dtype) {
  int64_t L = 0;
  for (const NormedStream& s : streams) L += s.x.size(2);
  if (pe.cos.size(0) != L || !own_norm_rope_applies(streams, pe, dtype)) {
    std::vector<torch::Tensor> normed;
    for (const NormedStream& s : streams) normed.push_back(s.norm(s.x).to(dtype));
    return apply_rotary(normed.size() == 1 ? normed[0] : torch::cat(normed, 2), pe);
  }
  const int64_t B = streams[0].x.size(0), H = streams[0].x.size(1), D = streams[0].x.size(3);
  torch::Tensor out = torch::empty({B, H, L, D}, streams[0].x.options());
  struct Plane {
    const float* x;
    int64_t x_stride, rows, first_row;  // first_row: in the tables and the output's tokens
    const float* scale;
    float* out;
  };
  std::vector<Plane> planes;
  int64_t first = 0;
  for (const NormedStream& s : streams) {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        planes.push_back({s.x.data_ptr<float>() + b * s.x.stride(0) + h * s.x.stride(1), s.x.stride(2), s.x.size(2),
                          first, s.norm.scale.data_ptr<float>(), out.data_ptr<float>() + ((b * H + h) * L + first) * D});
    first += s.x.size(2);
  }
  const SimdLevel simd = simd_level();
  const float *cos = pe.cos.data_ptr<float>(), *sin = pe.sin.data_ptr<float>();
  const int threads = int(std::min<int64_t>(kernel_threads(), std::max<int64_t>(1, B * H * L * D >> 16)));
  run_items(threads, int64_t(planes.size()), [&](int64_t i) {
    const Plane& p = planes[size_t(i)];
    rms_norm_rope(simd, p.x, p.x_stride, p.rows, D, p.scale, cos + p.first_row * (D / 2), sin + p.first_row * (D / 2),
                  p.out);
  });
  return out;
}

// [B, heads, L, D] -> [B, L, heads * D]
inline torch::Tensor merge_heads(const torch::Tensor& x) {
  return x.transpose(1, 2).reshape({x.size(0), x.size(2), x.size(1) * x.size(3)});
}

}  // namespace genplug::flux::layers
