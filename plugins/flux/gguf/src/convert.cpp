// Tensor values as float32, Q8_0 blocks <-> float32 ({f16 d; int8 q[32]} per 32 values, value = d * q: exact in
// float32, an 11-bit significand times an 8-bit integer), and any block type re-blocked as Q8_0.
#include <genplug/gguf.hpp>

#include <cmath>
#include <cstring>

#include <genplug/safetensors.hpp>

namespace genplug::gguf {

void dequantize_q8_0(const uint8_t* blocks, int64_t n, float* out) {
  for (int64_t b = 0; b < n / kQ8Block; ++b, blocks += kQ8BlockBytes) {
    const float d = safetensors::f16_to_float(static_cast<uint16_t>(blocks[0] | (blocks[1] << 8)));
    for (int64_t j = 0; j < kQ8Block; ++j) *out++ = d * static_cast<float>(static_cast<int8_t>(blocks[2 + j]));
  }
}

// ggml's quantize_row_q8_0_ref: q is rounded with the float32 d, which is then stored as f16 (so d * q differs
// from x by up to d/2 plus q times d's f16 rounding).
void quantize_q8_0(const float* x, int64_t n, uint8_t* blocks) {
  for (int64_t b = 0; b < n / kQ8Block; ++b, x += kQ8Block, blocks += kQ8BlockBytes) {
    float amax = 0.0f;
    for (int64_t j = 0; j < kQ8Block; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t h = safetensors::float_to_f16(d);
    blocks[0] = static_cast<uint8_t>(h & 0xff);
    blocks[1] = static_cast<uint8_t>(h >> 8);
    for (int64_t j = 0; j < kQ8Block; ++j)
      blocks[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::round(x[j] * id)));
  }
}

std::vector<float> to_float32(const TensorInfo& info) {
  std::vector<float> out(static_cast<std::size_t>(info.numel()));
  dequantize(info.type, info.data, info.numel(), out.data());
  return out;
}

std::vector<uint8_t> q8_0_blocks_of(const TensorInfo& info) {
  if (info.shape.size() != 2 || info.shape[1] % kQ8Block)
    throw Error("tensor '" + info.name + "' is not a matrix with rows of whole blocks of 32, so not Q8_0");
  if (info.nbytes != byte_size(info.type, info.shape))
    throw Error("tensor '" + info.name + "' holds " + std::to_string(info.nbytes) + " bytes, not its type's " +
                std::to_string(byte_size(info.type, info.shape)));
  const int64_t rows = info.shape[0], cols = info.shape[1];
  const std::size_t row_bytes = static_cast<std::size_t>(cols / kQ8Block) * kQ8BlockBytes;
  std::vector<uint8_t> out(static_cast<std::size_t>(rows) * row_bytes);
  if (info.type == Type::Q8_0) {
    if (!out.empty()) std::memcpy(out.data(), info.data, out.size());
    return out;
  }
  const std::size_t stored_row = info.nbytes / static_cast<std::size_t>(rows > 0 ? rows : 1);
  std::vector<float> row(static_cast<std::size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    dequantize(info.type, info.data + r * stored_row, cols, row.data());
    quantize_q8_0(row.data(), cols, out.data() + r * row_bytes);
  }
  return out;
}

}  // namespace genplug::gguf
