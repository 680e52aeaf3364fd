// The multiply-add peak (fma_peak.hpp): 12 accumulators per thread, each its own dependency chain, enough to keep
// two FMA pipes of 4 cycles' latency busy; every value stays in a register (no loads or stores in the loop). The
// vector extensions' a * b + c is contracted into one fused multiply-add where the instruction set has one, as in
// the transformer's kernels (vector_lanes.hpp).
#include "fma_peak.hpp"

#include <atomic>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "simd_level.hpp"
#include "vector_lanes.hpp"

namespace genplug::bench {
namespace {

using namespace flux::lanes;

constexpr int kChains = 12;

// a <- a * b + c with b just above 1 and c tiny: the values stay normal floats for any number of rounds. Each
// chain starts from its own value and every lane of every chain reaches the result, so that no compiler can merge
// the chains or narrow them to fewer lanes.
template <int W> GENPLUG_LANES_INLINE float chains(int64_t iterations) {
  const F<W> b = splat<W>(1.0000001f), c = splat<W>(1e-7f);
  F<W> a[kChains];
  for (int i = 0; i < kChains; ++i)
    for (int l = 0; l < W; ++l) a[i][l] = 1e-7f * float(1 + i * W + l);
  for (int64_t n = 0; n < iterations; ++n)
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) a[i] = a[i] * b + c;
  float sum = 0.0f;
  for (int i = 0; i < kChains; ++i)
    for (int l = 0; l < W; ++l) sum += a[i][l];
  return sum;
}

__attribute__((target("avx512f"))) float run_avx512(int64_t iterations) { return chains<16>(iterations); }
__attribute__((target("avx2,fma"))) float run_avx2(int64_t iterations) { return chains<8>(iterations); }
float run_baseline(int64_t iterations) { return chains<4>(iterations); }

int lanes(flux::SimdLevel level) {
  return level == flux::SimdLevel::avx512 ? 16 : level == flux::SimdLevel::avx2 ? 8 : 4;
}

// Where each thread leaves its chains' sum, so that they are computed.
std::atomic<float> sink{0.0f};

}  // namespace

double fma_peak_flops(int64_t iterations) { return 2.0 * kChains * lanes(flux::simd_level()) * double(iterations); }

void fma_peak_run(int threads, int64_t iterations) {
  const auto one = [iterations] {
    float sum = 0.0f;
    switch (flux::simd_level()) {
      case flux::SimdLevel::avx512: sum = run_avx512(iterations); break;
      case flux::SimdLevel::avx2: sum = run_avx2(iterations); break;
      case flux::SimdLevel::baseline: sum = run_baseline(iterations); break;
    }
    sink.store(sum, std::memory_order_relaxed);
  };
  std::vector<std::thread> others;
  try {
    for (int i = 1; i < threads; ++i) others.emplace_back(one);
  } catch (const std::system_error&) {
    for (auto& t : others) t.join();
    throw std::runtime_error("--fma-peak: could not start " + std::to_string(threads) + " threads");
  }
  one();
  for (auto& t : others) t.join();
}

const char* fma_peak_isa() { return flux::simd_level_name(flux::simd_level()); }

}  // namespace genplug::bench
