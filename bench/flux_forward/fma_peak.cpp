// The multiply-add peak (fma_peak.hpp): 12 accumulators per thread, each its own dependency chain, enough to keep
// two FMA pipes of 4 cycles' latency busy; every value stays in a register (no loads or stores in the loop). The
// vector extensions' a * b + c is contracted into one fused multiply-add where the instruction set has one, as in
// the transformer's kernels (vector_lanes.hpp).
#include "fma_peak.hpp"

#include <thread>
#include <vector>

#include "simd_level.hpp"
#include "vector_lanes.hpp"

namespace genplug::bench {
namespace {

using namespace flux::lanes;

constexpr int kChains = 12;

// a <- a * b + c with b just above 1 and c tiny: the values stay normal floats for any number of rounds.
template <int W> GENPLUG_LANES_INLINE float chains(int64_t iterations) {
  const F<W> b = splat<W>(1.0000001f), c = splat<W>(1e-7f);
  F<W> a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = c;
  for (int64_t n = 0; n < iterations; ++n)
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) a[i] = a[i] * b + c;
  float sum = 0.0f;
  for (int i = 0; i < kChains; ++i) sum += a[i][0];
  return sum;
}

__attribute__((target("avx512f"))) float run_avx512(int64_t iterations) { return chains<16>(iterations); }
__attribute__((target("avx2,fma"))) float run_avx2(int64_t iterations) { return chains<8>(iterations); }
float run_baseline(int64_t iterations) { return chains<4>(iterations); }

int lanes(flux::SimdLevel level) {
  return level == flux::SimdLevel::avx512 ? 16 : level == flux::SimdLevel::avx2 ? 8 : 4;
}

volatile float sink;  // keeps the chains' results, so that they are computed

}  // namespace

double fma_peak_flops(int64_t iterations) { return 2.0 * kChains * lanes(flux::simd_level()) * double(iterations); }

void fma_peak_run(int threads, int64_t iterations) {
  const auto one = [iterations] {
    switch (flux::simd_level()) {
      case flux::SimdLevel::avx512: sink = run_avx512(iterations); break;
      case flux::SimdLevel::avx2: sink = run_avx2(iterations); break;
      case flux::SimdLevel::baseline: sink = run_baseline(iterations); break;
    }
  };
  std::vector<std::thread> others;
  for (int i = 1; i < threads; ++i) others.emplace_back(one);
  one();
  for (auto& t : others) t.join();
}

const char* fma_peak_isa() { return flux::simd_level_name(flux::simd_level()); }

}  // namespace genplug::bench
