// Whether this code was built with a sanitizer: the CLI then leaves crashes to the sanitizer's report and limits
// memory by polling (the sanitizers reserve terabytes of address space), and the tests expect that.
#pragma once

namespace genplug::internal {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

}  // namespace genplug::internal
