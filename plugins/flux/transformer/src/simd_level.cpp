#include "simd_level.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace genplug::flux {

bool cpu_supports(SimdLevel level) {
  __builtin_cpu_init();
  switch (level) {
    case SimdLevel::avx512: return __builtin_cpu_supports("avx512f");
    case SimdLevel::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case SimdLevel::baseline: return true;
  }
  return false;
}

SimdLevel simd_level() {
  static const SimdLevel level = [] {
    SimdLevel best = cpu_supports(SimdLevel::avx512) ? SimdLevel::avx512
                     : cpu_supports(SimdLevel::avx2) ? SimdLevel::avx2
                                                     : SimdLevel::baseline;
    const char* cap = std::getenv("ATEN_CPU_CAPABILITY");
    const std::string capability = cap ? cap : "";
    if (capability == "default") best = SimdLevel::baseline;
    if (capability == "avx2") best = std::min(best, SimdLevel::avx2);
    return best;
  }();
  return level;
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::avx512: return "avx512";
    case SimdLevel::avx2: return "avx2";
    case SimdLevel::baseline: return "baseline";
  }
  return "?";
}

}  // namespace genplug::flux
