// See cpu_tensor_math.hpp.
#include "cpu_tensor_math.hpp"

#include <cmath>
#include <cstring>

#include <Imath/half.h>

namespace genplug::host::cpu {

namespace {

enum class Dtype { f32, f64, f16, bf16, other };

Dtype dtype_of(const DLDataType& d) {
  if (d.lanes != 1) return Dtype::other;
  if (d.code == kDLFloat && d.bits == 32) return Dtype::f32;
  if (d.code == kDLFloat && d.bits == 64) return Dtype::f64;
  if (d.code == kDLFloat && d.bits == 16) return Dtype::f16;
  if (d.code == kDLBfloat && d.bits == 16) return Dtype::bf16;
  return Dtype::other;
}

float bf16_to_float(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest even, NaN kept quiet.
uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (std::isnan(f)) return uint16_t((u >> 16) | 0x40);
  u += 0x7FFF + ((u >> 16) & 1);
  return uint16_t(u >> 16);
}

char* base(const DLTensor& t) { return static_cast<char*>(t.data) + t.byte_offset; }

double load(const DLTensor& t, Dtype d, int64_t i) {
  const char* p = base(t);
  switch (d) {
    case Dtype::f32: return reinterpret_cast<const float*>(p)[i];
    case Dtype::f64: return reinterpret_cast<const double*>(p)[i];
    case Dtype::f16: return float(reinterpret_cast<const Imath::half*>(p)[i]);
    case Dtype::bf16: return bf16_to_float(reinterpret_cast<const uint16_t*>(p)[i]);
    default: return 0.0;
  }
}

void store(const DLTensor& t, Dtype d, int64_t i, double v) {
  char* p = base(t);
  switch (d) {
    case Dtype::f32: reinterpret_cast<float*>(p)[i] = float(v); break;
    case Dtype::f64: reinterpret_cast<double*>(p)[i] = v; break;
    case Dtype::f16: reinterpret_cast<Imath::half*>(p)[i] = Imath::half(float(v)); break;
    case Dtype::bf16: reinterpret_cast<uint16_t*>(p)[i] = float_to_bf16(float(v)); break;
    default: break;
  }
}

// out = sum c_k x_k in T (float for every 32-bit-or-narrower dtype): coefficients rounded to T, each product
// and sum rounded to T, in index order, then once to the tensor's dtype. For float32 that is what PyTorch eager
// computes for `x + dt * v` (mul, then add: no FMA); for float16/bfloat16 PyTorch rounds after each operation,
// so results may differ in the last bit (scheduler.h allows it).
template <class T>
void combine(const DLTensor& out, Dtype d, uint32_t n, const DLTensor* const* in, const double* c) {
  const int64_t count = element_count(out);
  std::vector<Dtype> kinds(n);
  for (uint32_t k = 0; k < n; ++k) kinds[k] = dtype_of(in[k]->dtype);
  for (int64_t i = 0; i < count; ++i) {
    T acc = 0;
    for (uint32_t k = 0; k < n; ++k) {
      const T term = T(c[k]) * T(load(*in[k], kinds[k], i));
      acc = k == 0 ? term : T(acc + term);
    }
    store(out, d, i, double(acc));
  }
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace

std::string unsupported(const DLTensor& t) {
  if (t.device.device_type != kDLCPU && t.device.device_type != kDLCUDAHost)
    return "device type " + std::to_string(t.device.device_type) + " (not CPU memory)";
  if (dtype_of(t.dtype) == Dtype::other)
    return "dtype code " + std::to_string(t.dtype.code) + " bits " + std::to_string(t.dtype.bits) + " lanes " +
           std::to_string(t.dtype.lanes) + " (not float32/64/16 or bfloat16)";
  if (!t.data && element_count(t) > 0) return "NULL data";
  return "";
}

int64_t element_count(const DLTensor& t) {
  int64_t n = 1;
  for (int i = 0; i < t.ndim; ++i) n *= t.shape[i];
  return n;
}

size_t element_bytes(const DLTensor& t) { return size_t(t.dtype.bits / 8) * t.dtype.lanes; }

bool same_layout(const DLTensor& a, const DLTensor& b) {
  if (a.ndim != b.ndim || a.dtype.code != b.dtype.code || a.dtype.bits != b.dtype.bits || a.dtype.lanes != b.dtype.lanes)
    return false;
  for (int i = 0; i < a.ndim; ++i)
    if (a.shape[i] != b.shape[i]) return false;
  return true;
}

bool is_compact(const DLTensor& t) {
  if (!t.strides) return true;
  int64_t expected = 1;
  for (int i = t.ndim - 1; i >= 0; --i) {
    if (t.shape[i] != 1 && t.strides[i] != expected) return false;
    expected *= t.shape[i];
  }
  return true;
}

void linear_combination(const DLTensor& out, uint32_t n, const DLTensor* const* in, const double* c) {
  const Dtype d = dtype_of(out.dtype);
  if (d == Dtype::f64)
    combine<double>(out, d, n, in, c);
  else
    combine<float>(out, d, n, in, c);
}

// Box-Muller on two uniforms hashed from (seed, stream, i); u1 in (0, 1] so the logarithm is finite.
void normal(const DLTensor& out, uint64_t seed, uint64_t stream) {
  const Dtype d = dtype_of(out.dtype);
  const uint64_t key = splitmix64(seed ^ splitmix64(stream ^ 0xD1B54A32D192ED03ULL));
  const int64_t count = element_count(out);
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  for (int64_t i = 0; i < count; ++i) {
    const uint64_t a = splitmix64(key + 2 * uint64_t(i)), b = splitmix64(key + 2 * uint64_t(i) + 1);
    const double u1 = double((a >> 11) + 1) * 0x1.0p-53, u2 = double(b >> 11) * 0x1.0p-53;
    store(out, d, i, std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2));
  }
}

namespace {

// visit(i, x) for element i (row-major order) of a tensor of any strides, x its value.
template <class Visit> void for_each_value(const DLTensor& t, Visit&& visit) {
  const Dtype d = dtype_of(t.dtype);
  const int64_t count = element_count(t);
  if (is_compact(t)) {
    for (int64_t i = 0; i < count; ++i) visit(i, load(t, d, i));
    return;
  }
  std::vector<int64_t> index(size_t(t.ndim), 0);  // row-major walk over a strided tensor
  for (int64_t i = 0; i < count; ++i) {
    int64_t offset = 0;
    for (int k = 0; k < t.ndim; ++k) offset += index[k] * t.strides[k];
    visit(i, load(t, d, offset));
    for (int k = t.ndim - 1; k >= 0 && ++index[k] == t.shape[k]; --k) index[k] = 0;
  }
}

}  // namespace

std::vector<float> to_float(const DLTensor& t) {
  std::vector<float> out(size_t(element_count(t)));
  for_each_value(t, [&](int64_t i, double x) { out[size_t(i)] = float(x); });
  return out;
}

NonFinite non_finite(const DLTensor& t) {
  NonFinite found;
  for_each_value(t, [&](int64_t i, double x) {
    if (!std::isfinite(x) && found.count++ == 0) found.first = i, found.first_value = x;
  });
  return found;
}

}  // namespace genplug::host::cpu
