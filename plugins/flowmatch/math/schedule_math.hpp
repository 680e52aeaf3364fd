// Flow-matching schedule math: pure functions, no state, no tensors.
//
// Two families of references compute the FLUX schedule in float32, each with its own rounding:
//  - BFL flux.sampling.get_schedule: torch.linspace(1, 0, N + 1) then time_shift with torch float32 ops;
//  - diffusers (and the DyPE pipeline): np.linspace(1, 1/N, N) in float64 cast to float32, then the same
//    shift with numpy float32 ops, then a terminal 0.
// The *_f32 functions below replay those operation sequences exactly, so the schedules match the references
// bit for bit; the *_f64 functions are the closed form in float64. Mathematically both spacings are
// t_i = 1 - i/N, so the float64 closed form serves both.
#pragma once

#include <cstdint>
#include <vector>

namespace genplug::flowmatch {

// One of torch 1.13's CPU linspace kernels, which ATen picks by the CPU (ATEN_CPU_CAPABILITY): they differ in the
// floats per Vectorized<float> and in whether start + step*i is one fused multiply-add (the AVX2 and AVX-512
// builds are compiled with FMA) or a product and a sum (the scalar dispatch). From 9 or 15 steps on their last bits
// differ (docs/schedulers.md).
struct TorchLinspaceKernel {
  const char* name;  // as ATEN_CPU_CAPABILITY names it
  int64_t lanes;
  bool fused;
};
inline constexpr TorchLinspaceKernel kTorchAvx2{"avx2", 8, true};
inline constexpr TorchLinspaceKernel kTorchAvx512{"avx512", 16, true};
inline constexpr TorchLinspaceKernel kTorchScalar{"default", 8, false};

// torch.linspace(start, end, count) in float32 as `kernel` computes it for fewer than 32 769 values (more are split
// among threads): the first half as start + step*i, the second as end - step*(count-1-i), and the leading blocks
// of 2 x lanes values through Vectorized<float>::arange (base + k*step, rounded twice). The plugin's schedules use
// the AVX2 kernel's, which made the golden files.
std::vector<float> torch_linspace_f32(float start, float end, uint32_t count,
                                      const TorchLinspaceKernel& kernel = kTorchAvx2);

// np.linspace(start, stop, count) in float64 (arange * step + start, last value set to stop).
std::vector<double> numpy_linspace_f64(double start, double stop, uint32_t count);

// BFL's get_lin_function: mu linear in the image-token count through (base_tokens, base_shift) and
// (max_tokens, max_shift), extrapolated beyond both ends, in the same float64 operation order.
double mu_for_tokens(uint64_t image_tokens, double base_shift, double max_shift, double base_tokens,
                     double max_tokens);

// time_shift(mu, 1, t) = e^mu / (e^mu + 1/t - 1) as torch float32 tensor ops evaluate it
// (1/t and e^mu/d are reciprocal-then-multiply; e^mu rounded to float32). t = 0 gives 0.
float time_shift_torch_f32(double mu, float t);

// The same expression with numpy float32 ops (true divisions). t = 0 gives 0.
float time_shift_numpy_f32(double mu, float t);

// The closed form in float64. t = 0 gives 0, t = 1 gives 1.
double time_shift_f64(double mu, double t);

// BFL's get_schedule in float32: torch.linspace(1, 0, n + 1) by `kernel`, then time_shift with mu (none: unshifted).
std::vector<double> bfl_schedule_f32(uint32_t n, const double* mu, const TorchLinspaceKernel& kernel = kTorchAvx2);

}  // namespace genplug::flowmatch
