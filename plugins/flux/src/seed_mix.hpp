// Seeds for torch's CPU generator (mt19937), which keeps only a seed's low 32 bits: seeds 2^32 apart would draw
// the same numbers. Where a seed has high bits, these fold all 64 into the 32 it keeps.
#pragma once

#include <cstdint>

namespace genplug::flux {

// splitmix64 (Steele, Lea, Flood 2014) of x: every bit of x reaches every bit of the result.
inline uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A 32-bit generator seed from all 64 bits of x: the halves of splitmix64(x), xor-ed. Two values share one by a
// chance of 2^-32.
inline uint64_t fold_to_32_bits(uint64_t x) {
  const uint64_t z = splitmix64(x);
  return (z ^ (z >> 32)) & 0xFFFFFFFFull;
}

}  // namespace genplug::flux
