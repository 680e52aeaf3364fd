// Exact conversions of stored element types to float32 / float64.
#include <genplug/safetensors.hpp>

#include <cmath>
#include <cstring>
#include <limits>

namespace genplug::safetensors {
namespace {

// Files are little-endian; so is every host we build for.
static_assert(sizeof(float) == 4 && sizeof(double) == 8, "IEEE float32/float64 expected");

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// sign * (1 + mantissa / 2^mant_bits) * 2^(exponent - bias), or subnormal, from the bit fields.
float decode_small_float(uint32_t sign, uint32_t exponent, uint32_t mantissa, int mant_bits, int bias) {
  float magnitude;
  if (exponent == 0)
    magnitude = std::ldexp(static_cast<float>(mantissa), 1 - bias - mant_bits);
  else
    magnitude = std::ldexp(static_cast<float>(mantissa + (1u << mant_bits)), static_cast<int>(exponent) - bias - mant_bits);
  return sign ? -magnitude : magnitude;
}

template <typename Out>
std::vector<Out> convert(const TensorInfo& info) {
  const std::size_t n = info.nbytes / dtype_size(info.dtype);
  std::vector<Out> out(n);
  const uint8_t* p = info.data;
  switch (info.dtype) {
    case DType::F64:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<Out>(load<double>(p + 8 * i));
      break;
    case DType::F32:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<Out>(load<float>(p + 4 * i));
      break;
    case DType::F16:
      for (std::size_t i = 0; i < n; ++i) out[i] = f16_to_float(load<uint16_t>(p + 2 * i));
      break;
    case DType::BF16:
      for (std::size_t i = 0; i < n; ++i) out[i] = bf16_to_float(load<uint16_t>(p + 2 * i));
      break;
    case DType::F8_E4M3:
      for (std::size_t i = 0; i < n; ++i) out[i] = f8_e4m3_to_float(p[i]);
      break;
    case DType::F8_E5M2:
      for (std::size_t i = 0; i < n; ++i) out[i] = f8_e5m2_to_float(p[i]);
      break;
    case DType::I64:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<Out>(load<int64_t>(p + 8 * i));
      break;
    case DType::I32:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<Out>(load<int32_t>(p + 4 * i));
      break;
    case DType::I16:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<Out>(load<int16_t>(p + 2 * i));
      break;
    case DType::I8:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<Out>(static_cast<int8_t>(p[i]));
      break;
    case DType::U8:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<Out>(p[i]);
      break;
    case DType::BOOL:
      for (std::size_t i = 0; i < n; ++i) out[i] = p[i] ? Out(1) : Out(0);
      break;
  }
  return out;
}

}  // namespace

float f16_to_float(uint16_t bits) {
  const uint32_t sign = bits >> 15, exponent = (bits >> 10) & 0x1F, mantissa = bits & 0x3FF;
  if (exponent == 0x1F) {
    if (mantissa) return std::numeric_limits<float>::quiet_NaN();
    return sign ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  }
  return decode_small_float(sign, exponent, mantissa, 10, 15);
}

float bf16_to_float(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &wide, 4);
  return f;
}

float f8_e4m3_to_float(uint8_t bits) {
  const uint32_t sign = bits >> 7, exponent = (bits >> 3) & 0xF, mantissa = bits & 0x7;
  if (exponent == 0xF && mantissa == 0x7) return std::numeric_limits<float>::quiet_NaN();
  return decode_small_float(sign, exponent, mantissa, 3, 7);
}

float f8_e5m2_to_float(uint8_t bits) { return f16_to_float(static_cast<uint16_t>(bits) << 8); }

uint16_t float_to_bf16(float value) {
  uint32_t u;
  std::memcpy(&u, &value, 4);
  if (std::isnan(value)) return static_cast<uint16_t>((u >> 16) | 0x40);
  const uint32_t rounding = 0x7FFF + ((u >> 16) & 1);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

uint16_t float_to_f16(float value) {
  uint32_t u;
  std::memcpy(&u, &value, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  const float a = std::fabs(value);
  if (std::isnan(value)) return sign | 0x7E00;
  if (a >= 65520.0f) return sign | 0x7C00;  // rounds past the largest finite half (65504)
  if (a < std::ldexp(1.0f, -14)) {
    // Subnormal: the value in units of 2^-24, rounded to nearest even (exact in float arithmetic).
    const float units = std::nearbyint(a * std::ldexp(1.0f, 24));
    return sign | static_cast<uint16_t>(units);
  }
  const uint32_t exponent = ((u >> 23) & 0xFF) - 127 + 15;
  uint32_t mantissa = u & 0x7FFFFF;
  uint32_t half = (exponent << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1FFF;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) ++half;  // carries into the exponent correctly
  return sign | static_cast<uint16_t>(half);
}

std::vector<float> to_float32(const TensorInfo& info) { return convert<float>(info); }

std::vector<double> to_float64(const TensorInfo& info) { return convert<double>(info); }

}  // namespace genplug::safetensors
