// Test support: how many of a property test's seeds to run. All of them in the plain suite, which asserts the
// rates; a quarter (at least 4) under AddressSanitizer, where every render and detection of our own code runs
// about 15x slower and what is checked is memory, which a quarter of the scenes exercises as well as all of
// them (every size and case still runs). The rates a test asserts must also hold on that share.
#pragma once
#include <algorithm>
#include <cstdint>

namespace genplug::test {

#if defined(__SANITIZE_ADDRESS__)  // GCC, and clang from 17
inline constexpr bool under_address_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)  // clang before 17
inline constexpr bool under_address_sanitizer = true;
#else
inline constexpr bool under_address_sanitizer = false;
#endif
#else
inline constexpr bool under_address_sanitizer = false;
#endif

// `seeds` in the plain suite; seeds / 4 (at least 4) under ASan. GENPLUG_TEST_SANITIZER_SHARE forces the
// reduced share in any build, to check that the asserted rates hold on it.
constexpr std::uint64_t sanitizer_share(std::uint64_t seeds) {
#if defined(GENPLUG_TEST_SANITIZER_SHARE)
  constexpr bool reduced = true;
#else
  constexpr bool reduced = under_address_sanitizer;
#endif
  return reduced ? std::max<std::uint64_t>(seeds / 4, std::min<std::uint64_t>(seeds, 4)) : seeds;
}

}  // namespace genplug::test
