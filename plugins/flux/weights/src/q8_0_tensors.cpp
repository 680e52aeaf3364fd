// Q8_0 blocks <-> torch tensors. The block codec itself is genplug::gguf's (no torch there).
#include <genplug/flux/q8_0_tensors.hpp>

#include <cstring>

#include <genplug/gguf.hpp>

namespace genplug::flux {

Q8Blocks q8_0_from_blocks(const uint8_t* blocks, int64_t rows, int64_t cols) {
  const int64_t per_row = cols / kQ8BlockValues;
  Q8Blocks b{torch::empty({rows, cols}, torch::kInt8), torch::empty({rows, per_row}, torch::kFloat16)};
  auto* q = b.q.data_ptr<int8_t>();
  auto* d = reinterpret_cast<uint8_t*>(b.d.data_ptr());
  for (int64_t i = 0; i < rows * per_row; ++i, blocks += gguf::kQ8BlockBytes) {
    std::memcpy(d + 2 * i, blocks, 2);  // f16, little-endian like the host
    std::memcpy(q + kQ8BlockValues * i, blocks + 2, kQ8BlockValues);
  }
  return b;
}

std::vector<uint8_t> q8_0_block_bytes(const Q8Blocks& b) {
  const torch::Tensor q = b.q.contiguous().cpu();
  const torch::Tensor d = b.d.to(torch::kCPU, torch::kFloat16).contiguous();
  const int64_t blocks = d.numel();
  std::vector<uint8_t> out(static_cast<std::size_t>(blocks) * gguf::kQ8BlockBytes);
  const auto* qp = q.data_ptr<int8_t>();
  const auto* dp = reinterpret_cast<const uint8_t*>(d.data_ptr());
  for (int64_t i = 0; i < blocks; ++i) {
    std::memcpy(&out[i * gguf::kQ8BlockBytes], dp + 2 * i, 2);
    std::memcpy(&out[i * gguf::kQ8BlockBytes + 2], qp + kQ8BlockValues * i, kQ8BlockValues);
  }
  return out;
}

Q8Blocks quantize_q8_0(const torch::Tensor& w) {
  TORCH_CHECK(w.dim() == 2 && w.size(1) % kQ8BlockValues == 0, "quantize_q8_0: a [rows, cols] matrix with cols a ",
              "multiple of 32, not ", w.sizes());
  const torch::Tensor f = w.to(torch::kCPU, torch::kFloat32).contiguous();
  std::vector<uint8_t> blocks(static_cast<std::size_t>(f.numel() / kQ8BlockValues) * gguf::kQ8BlockBytes);
  gguf::quantize_q8_0(f.data_ptr<float>(), f.numel(), blocks.data());
  Q8Blocks b = q8_0_from_blocks(blocks.data(), w.size(0), w.size(1));
  return {b.q.to(w.device()), b.d.to(w.device())};
}

torch::Tensor dequantize_q8_0(const Q8Blocks& b) {
  const int64_t rows = b.q.size(0), cols = b.q.size(1);
  return (b.q.to(torch::kFloat32).view({rows, cols / kQ8BlockValues, kQ8BlockValues}) *
          b.d.to(torch::kFloat32).unsqueeze(-1))
      .view({rows, cols});
}

std::optional<Q8Blocks> find_q8_0(const TensorMap& map, const std::string& name) {
  const auto d = map.find(q8_0_scale_name(name));
  const auto q = map.find(name);
  if (d == map.end() || q == map.end()) return std::nullopt;
  return Q8Blocks{q->second, d->second};
}

void put_q8_0(TensorMap& map, const std::string& name, Q8Blocks b) {
  map[name] = std::move(b.q);
  map[q8_0_scale_name(name)] = std::move(b.d);
}

}  // namespace genplug::flux
