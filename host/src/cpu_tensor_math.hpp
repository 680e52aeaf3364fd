// Element-wise arithmetic on CPU DLTensors of float32, float64, float16 and bfloat16, with no tensor library:
// what the host lends schedulers for models that keep latents in plain CPU memory.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <dlpack/dlpack.h>

namespace genplug::host::cpu {

// Empty when `t` is a CPU tensor of a supported dtype, else why not (for messages).
std::string unsupported(const DLTensor& t);
bool same_layout(const DLTensor& a, const DLTensor& b);  // shape and dtype
bool is_compact(const DLTensor& t);                       // row-major, no gaps (NULL strides or equal to them)
int64_t element_count(const DLTensor& t);
size_t element_bytes(const DLTensor& t);

// out = sum_i coeffs[i] * inputs[i], element by element in float (double for float64) and rounded once to
// out's dtype; out may alias an input. Every tensor compact, one shape and dtype.
void linear_combination(const DLTensor& out, uint32_t count, const DLTensor* const* inputs, const double* coeffs);

// Standard normal noise from (seed, stream): element i is a pure function of (seed, stream, i), so the
// result does not depend on threads, CPU or tensor size.
void normal(const DLTensor& out, uint64_t seed, uint64_t stream);

// Element i of a tensor of any strides as float (row-major order of i).
std::vector<float> to_float(const DLTensor& t);

// The NaN and infinite elements of a tensor of any strides: how many, and the first (row-major index, value).
struct NonFinite {
  int64_t count = 0, first = -1;
  double first_value = 0.0;
};
NonFinite non_finite(const DLTensor& t);

}  // namespace genplug::host::cpu
