// The vector instruction sets the hand-vectorised kernels (online_softmax, gelu_tanh) are compiled for, and the
// one this process runs. No tensor library.
#pragma once

namespace genplug::flux {

// Chosen once per process (simd_level()).
enum class SimdLevel { baseline, avx2, avx512 };

// The best level this CPU has, capped like libtorch's own kernels by ATEN_CPU_CAPABILITY (default | avx2 |
// avx512), so that `ATEN_CPU_CAPABILITY=avx2` tests the AVX2 path on an AVX-512 machine.
SimdLevel simd_level();
const char* simd_level_name(SimdLevel level);
// Whether this CPU can run `level` (the tests run every level it can).
bool cpu_supports(SimdLevel level);

}  // namespace genplug::flux
