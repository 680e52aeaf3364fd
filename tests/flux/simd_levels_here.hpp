// The vector instruction sets this CPU runs, for the tests of the transformer's hand-vectorised kernels (each
// tests every one of them, whatever ATEN_CPU_CAPABILITY picks for the process).
#pragma once
#include <vector>

#include "simd_level.hpp"

namespace genplug::test {

inline std::vector<flux::SimdLevel> simd_levels_here() {
  std::vector<flux::SimdLevel> out;
  for (flux::SimdLevel s : {flux::SimdLevel::baseline, flux::SimdLevel::avx2, flux::SimdLevel::avx512})
    if (flux::cpu_supports(s)) out.push_back(s);
  return out;
}

}  // namespace genplug::test
