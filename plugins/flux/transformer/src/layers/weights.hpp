// Taking named parameters out of a TensorMap: shape-checked, converted once to the model dtype/device; the linear
// layers' weights to their own dtype, which may be narrower than the one the forward computes in.
#pragma once
#include <algorithm>
#include <array>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <genplug/flux/ggml_blocks_layout.hpp>
#include <genplug/flux/q8_0_layout.hpp>
#include <genplug/flux/transformer.hpp>
#include <genplug/gguf.hpp>
#include <genplug/plugin.hpp>

#include "../weight_widening.hpp"
#include "../worker_threads.hpp"
#include "linear_product.hpp"

namespace genplug::flux::layers {

inline std::string shape_text(c10::IntArrayRef s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

// The per-thread buffers narrow weights are widened into, reused by every layer: the products that follow read
// them, and no layer keeps them. Slot 0 serves one product at a time; an MLP run over runs of tokens
// (token_runs.hpp) needs its two weights widened at once and puts the second in slot 1. Each holds the largest
// weight widened into it so far until the thread ends.
constexpr int kWideningSlots = 2;
inline torch::Tensor widening_buffer(c10::IntArrayRef sizes, torch::Device device, torch::ScalarType to,
                                     int slot = 0) {
  thread_local std::array<torch::Tensor, kWideningSlots> buffers;
  torch::Tensor& buffer = buffers.at(size_t(slot));
  if (!buffer.defined() || buffer.device() != device || buffer.scalar_type() != to)
    buffer = torch::empty({0}, torch::TensorOptions().device(device).dtype(to));
  const int64_t numel = c10::multiply_integers(sizes);
  if (buffer.numel() < numel) buffer.resize_({numel});
  return buffer.narrow(0, 0, numel).view(sizes);
}
inline torch::Tensor widening_buffer(const torch::Tensor& like, torch::ScalarType to, int slot = 0) {
  return widening_buffer(like.sizes(), like.device(), to, slot);
}

// Runs of at least 128 Ki values per thread for the widening kernels (weight_widening.hpp).
constexpr int64_t kWideningRun = int64_t(1) << 17;

// `w` in dtype `to`. A narrower weight (bf16 or f16 kept for memory, f32 compute: CPUs without fast bf16
// products; int8 per row) is widened into the thread's buffer of `slot` (without autograd recording; a recorded forward
// takes the differentiable conversion). bf16 and f16 into float32 on the CPU by the vectorised kernels over
// kernel_threads(); other pairs (int8 per row among them) by libtorch's copy.
inline torch::Tensor widened(const torch::Tensor& w, torch::ScalarType to, int slot = 0) {
  if (w.scalar_type() == to) return w;
  if (torch::GradMode::is_enabled()) return w.to(to);
  torch::Tensor out = widening_buffer(w, to, slot);
  const torch::ScalarType from = w.scalar_type();
  // int8 stays with libtorch's copy: the kernel measured no faster there (docs/performance.md).
  const bool own = from == torch::kBFloat16 || from == torch::kFloat16;
  if (!own || to != torch::kFloat32 || !w.device().is_cpu() || !w.is_contiguous()) return out.copy_(w);
  const SimdLevel simd = simd_level();
  float* o = out.data_ptr<float>();
  const auto* halves = static_cast<const uint16_t*>(w.data_ptr());
  run_parts(w.numel(), kWideningRun, [&](int64_t begin, int64_t end) {
    if (from == torch::kBFloat16) return widen_bf16(simd, halves + begin, o + begin, end - begin);
    widen_f16(simd, halves + begin, o + begin, end - begin);
  });
  return out;
}

// GGUF Q8_0 weights (q8_0_layout.hpp), kept as the file has them: q int8 [out, in], d float16 [out, in / 32].
// Widened per layer like the narrow weights: W = q * d, exact in float32, then rounded to `to` if narrower. On the
// CPU into the thread's buffer by the vectorised kernel (weight_widening.hpp) over kernel_threads(): one pass,
// where libtorch's conversion and scaling take two.
struct Q8Weight {
  torch::Tensor q, d;
  // Rows [begin, begin + count): views, contiguous as the whole is.
  Q8Weight rows(int64_t begin, int64_t count) const { return {q.narrow(0, begin, count), d.narrow(0, begin, count)}; }
  torch::Tensor widened(torch::ScalarType to, int slot = 0) const {
    const int64_t rows = q.size(0), blocks = q.size(1) / kQ8BlockValues;
    if (torch::GradMode::is_enabled() || to != torch::kFloat32 || !q.device().is_cpu())
      return (q.to(torch::kFloat32).view({rows, blocks, kQ8BlockValues}) * d.to(torch::kFloat32).unsqueeze(-1))
          .view(q.sizes())
          .to(to);
    torch::Tensor w = widening_buffer(q, torch::kFloat32, slot);
    const SimdLevel simd = simd_level();
    const int8_t* qp = q.data_ptr<int8_t>();
    const auto* dp = static_cast<const uint16_t*>(d.data_ptr());  // float16 bits, contiguous (WeightReader::q8_0)
    float* out = w.data_ptr<float>();
    run_parts(d.numel(), kWideningRun / kQ8BlockValues, [&](int64_t begin, int64_t end) {  // runs of blocks
      widen_q8_0(simd, qp + begin * kQ8BlockValues, dp + begin, out + begin * kQ8BlockValues, end - begin);
    });
    return w;
  }
};

// A GGUF file's blocks of Q4_0 ... Q6_K (ggml_blocks_layout.hpp), kept as the file has them: 2.6 to 6.6 bits a
// weight, on the CPU. Widened per layer into the thread's buffer by ggml's dequantisation (gguf::dequantize, the
// values ggml computes), rows split over kernel_threads(), then rounded to `to` if narrower.
struct GgmlBlocks {
  torch::Tensor bytes;  // uint8 [rows, bytes per row]
  gguf::Type type = gguf::Type::Q4_0;
  int64_t cols = 0;
  // Rows [begin, begin + count): a view, contiguous as the whole is.
  GgmlBlocks rows(int64_t begin, int64_t count) const { return {bytes.narrow(0, begin, count), type, cols}; }
  torch::Tensor widened(torch::ScalarType to, int slot = 0) const {
    const int64_t rows = bytes.size(0), row_bytes = bytes.size(1);
    TORCH_CHECK(bytes.device().is_cpu() && bytes.is_contiguous(), "GGUF blocks are kept contiguous on the CPU");
    // Under autograd recording a fresh tensor: the caller may keep what it is given.
    torch::Tensor w = torch::GradMode::is_enabled() ? torch::empty({rows, cols}, torch::kFloat32)
                                                    : widening_buffer({rows, cols}, torch::kCPU, torch::kFloat32, slot);
    const uint8_t* in = bytes.data_ptr<uint8_t>();
    float* out = w.data_ptr<float>();
    const int64_t least_rows = std::max<int64_t>(1, kWideningRun / std::max<int64_t>(cols, 1));
    run_parts(rows, least_rows, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) gguf::dequantize(type, in + r * row_bytes, cols, out + r * cols);
    });
    return to == torch::kFloat32 ? w : w.to(to);
  }
};

struct WeightReader {
  const TensorMap& map;
  torch::Dtype dtype;         // what the forward computes in: biases, norms' scales
  torch::Device device;
  torch::Dtype weight_dtype;  // the linear layers' float weight matrices (dtype, or narrower: see widened();
                              // int8: quantised per row, see Int8Rows). Q8_0 weights stay Q8_0 whatever it says.

  // The tensor `name` of `shape` in `as` (default: dtype) on the device; no copy when it is there already.
  // A Q8_0 weight comes widened.
  torch::Tensor borrow(const std::string& name, std::vector<int64_t> shape,
                       std::optional<torch::Dtype> as = std::nullopt) const {
    if (std::optional<Q8Weight> w = q8_0(name, shape)) {
      torch::NoGradGuard no_grad;  // widened into the thread's buffer, then copied out: the caller keeps its own
      return w->widened(torch::kFloat32).to(as.value_or(dtype), /*non_blocking=*/false, /*copy=*/true);
    }
    if (std::optional<GgmlBlocks> w = ggml_blocks(name, shape)) {
      torch::NoGradGuard no_grad;
      return w->widened(torch::kFloat32).to(device, as.value_or(dtype), /*non_blocking=*/false, /*copy=*/true);
    }
    return stored(name, shape).to(device, as.value_or(dtype)).contiguous();
  }

  // borrow(), for keeping: under int8 weights a copy whenever it would share the source's memory, so that the
  // source (a mapped checkpoint, every page of which quantising touched) can be released.
  torch::Tensor take(const std::string& name, std::vector<int64_t> shape,
                     std::optional<torch::Dtype> as = std::nullopt) const {
    torch::Tensor out = borrow(name, shape, as);
    if (weight_dtype == torch::kInt8 && out.data_ptr() == map.at(name).data_ptr()) out = out.clone();
    return out;
  }

  // The Q8_0 blocks stored under `name` (a [rows, cols] weight), on the device; nullopt when it is stored
  // otherwise.
  std::optional<Q8Weight> q8_0(const std::string& name, const std::vector<int64_t>& shape) const {
    const auto d = map.find(q8_0_scale_name(name));
    if (d == map.end()) return std::nullopt;
    const torch::Tensor& q = stored(name, shape);
    const std::vector<int64_t> blocks = {shape.at(0), shape.at(1) / kQ8BlockValues};
    if (q.scalar_type() != torch::kInt8 || shape[1] % kQ8BlockValues || d->second.sizes() != c10::IntArrayRef(blocks))
      throw Error(GENPLUG_E_CONFIG, "transformer weights: Q8_0 tensor '" + name + "' " + shape_text(q.sizes()) +
                                        " has scales " + shape_text(d->second.sizes()) + ", not " + shape_text(blocks));
    return Q8Weight{q.to(device).contiguous(), d->second.to(device).contiguous()};
  }

  // The Q4_0 ... Q6_K blocks stored under `name` (a [rows, cols] weight), on the CPU; nullopt when it is stored
  // otherwise. Their rows must be whole blocks of `shape`'s columns, and the model on the CPU.
  std::optional<GgmlBlocks> ggml_blocks(const std::string& name, const std::vector<int64_t>& shape) const {
    const auto type = map.find(ggml_type_key(name));
    if (type == map.end()) return std::nullopt;
    if (!device.is_cpu())
      throw Error(GENPLUG_E_CONFIG, "transformer weights: tensor '" + name + "' is kept as GGUF blocks, which are "
                                        "decoded on the CPU only (the GGUF loader re-blocks them as Q8_0 for " +
                                        device.str() + ")");
    const auto number = static_cast<uint32_t>(type->second.item<int32_t>());
    const auto bytes = map.find(name);
    const bool fits = bytes != map.end() && shape.size() == 2 && bytes->second.scalar_type() == torch::kUInt8 &&
                      bytes->second.dim() == 2 && bytes->second.size(0) == shape[0] &&
                      ggml_row_values(number, bytes->second.size(1)) == shape[1];
    if (!fits)
      throw Error(GENPLUG_E_CONFIG, "transformer weights: tensor '" + name + "' of GGUF type " +
                                        gguf::type_name(number) + " does not hold a " + shape_text(shape) + " matrix");
    return GgmlBlocks{bytes->second.contiguous(), static_cast<gguf::Type>(number), shape[1]};
  }

 private:
  const torch::Tensor& stored(const std::string& name, const std::vector<int64_t>& shape) const {
    const auto it = map.find(name);
    if (it == map.end()) throw Error(GENPLUG_E_IO, "transformer weights: tensor '" + name + "' is missing");
    if (it->second.sizes() != c10::IntArrayRef(shape))
      throw Error(GENPLUG_E_CONFIG, "transformer weights: tensor '" + name + "' has shape " +
                                        shape_text(it->second.sizes()) + ", the config needs " + shape_text(shape));
    return it->second;
  }
};

// 8-bit weights, symmetric per output row: W ~ q s with s = max_j |W_ij| / 127 and q = round(W / s) in
// [-127, 127]. Each weight is off by at most s / 2: 0.4 % of its row's largest.
struct Int8Rows {
  torch::Tensor q;      // int8 [out, in]
  torch::Tensor scale;  // float32 [out]
};
inline Int8Rows quantize_rows(const torch::Tensor& w) {
  const torch::Tensor f = w.to(torch::kFloat32);
  const torch::Tensor scale = f.abs().amax(1).clamp_min(1e-30) / 127.0;
  // In place after the division: one float32 temporary besides f, not three (machine_memory.cpp counts two).
  return {f.div(scale.unsqueeze(1)).round_().clamp_(-127, 127).to(torch::kInt8), scale};
}

// A linear layer's weight as its products take it: in the compute dtype, widened into a thread buffer if it is
// kept narrower (valid until that slot is widened into again), with the int8 path's row scales.
struct DenseLinear {
  torch::Tensor weight, bias, row_scale;
  torch::Tensor operator()(const torch::Tensor& x) const {
    if (!row_scale.defined()) return linear_product(x, weight, bias);
    torch::Tensor y = torch::linear(x, weight).mul_(row_scale);
    return bias.defined() ? y.add_(bias) : y;
  }
};

// y = x W^T + b (PyTorch layout [out, in]); W in the reader's weight_dtype, widened to x's dtype for the product.
// int8 weights: y = (x q^T) s + b, the row scales applied to the product's columns (tokens x out values)
// rather than to the widened weight. Q8_0 weights: widened with their block scales; other GGUF blocks decoded.
struct Linear {
  torch::Tensor weight, bias, row_scale;
  std::optional<Q8Weight> blocks;
  std::optional<GgmlBlocks> ggml;
  Linear() = default;
  Linear(const WeightReader& w, const std::string& name, int64_t in, int64_t out, bool has_bias = true) {
    blocks = w.q8_0(name + ".weight", {out, in});
    if (!blocks) ggml = w.ggml_blocks(name + ".weight", {out, in});
    if (blocks || ggml) {
      // kept as the file has them
    } else if (w.weight_dtype == torch::kInt8) {
      Int8Rows r = quantize_rows(w.take(name + ".weight", {out, in}, torch::kFloat32));
      weight = r.q;
      row_scale = r.scale.to(w.dtype);
    } else {
      weight = w.take(name + ".weight", {out, in}, w.weight_dtype);
    }
    if (has_bias) bias = w.take(name + ".bias", {out});
  }
  torch::Tensor operator()(const torch::Tensor& x) const { return dense(x.scalar_type())(x); }

  // The layer of output rows [begin, begin + count) alone: views of this one's tensors.
  Linear rows(int64_t begin, int64_t count) const {
    Linear part;
    const auto narrowed = [&](const torch::Tensor& t) { return t.defined() ? t.narrow(0, begin, count) : t; };
    part.weight = narrowed(weight);
    part.bias = narrowed(bias);
    part.row_scale = narrowed(row_scale);
    if (blocks) part.blocks = blocks->rows(begin, count);
    if (ggml) part.ggml = ggml->rows(begin, count);
    return part;
  }
  // The weight widened to `to` (into the thread buffer of `slot` when kept narrower), for products to come.
  DenseLinear dense(torch::ScalarType to, int slot = 0) const {
    if (blocks) return {blocks->widened(to, slot), bias, row_scale};
    if (ggml) return {ggml->widened(to, slot), bias, row_scale};
    return {widened(weight, to, slot), bias, row_scale};
  }
};

// LayerNorm(H, elementwise_affine=False, eps=1e-6).
inline torch::Tensor layer_norm(const torch::Tensor& x) {
  return torch::layer_norm(x, {x.size(-1)}, {}, {}, 1e-6);
}

}  // namespace genplug::flux::layers
