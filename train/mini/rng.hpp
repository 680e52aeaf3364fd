// Portable random numbers for the mini model's data: the same stream for a seed on every compiler and standard
// library (std:: distributions differ between libstdc++, libc++ and MSVC; these functions do not).
#pragma once
#include <cstdint>

namespace genplug::mini {

// SplitMix64 (Steele, Lea, Flood 2014): a 64-bit counter passed through a fixed mixing function.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform integer in [0, n), n > 0: rejection sampling, so no value is favoured.
  std::uint32_t below(std::uint32_t n) {
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    std::uint64_t x = next();
    while (x >= limit) x = next();
    return static_cast<std::uint32_t>(x % n);
  }

  // Uniform double in [0, 1) with 53 random bits.
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

}  // namespace genplug::mini
