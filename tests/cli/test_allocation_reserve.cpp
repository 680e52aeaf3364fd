// The CLI's allocation reserve (host/cli/allocation_reserve.hpp): after operator new fails, the unwinding that
// destroys a large nlohmann::json (whose destructor allocates) has room, and the failure reaches a catch.
#define BOOST_TEST_MODULE allocation_reserve
#include <boost/test/unit_test.hpp>

#include <new>
#include <string>

#include <nlohmann/json.hpp>

#include "address_space_limit.hpp"
#include "allocation_reserve.hpp"

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;  // their allocators end the process when the address space runs out
#else
constexpr bool kSanitized = false;
#endif

// Grows a JSON array until an allocation fails, as a large manifest being read does under a tight ulimit -v; true
// when std::bad_alloc reached this catch, after the unwinding had destroyed the array. Each job is a copy, built
// in place as the parser builds values: a job made from an initializer list destroys temporaries with members
// on the way, and where the allocation in such a destructor (nlohmann's destroy allocates) is the one that fails,
// no reserve helps: it ends in std::terminate. Which allocation fails first depends on the memory layout, and a
// machine in 2026-12 met it every time.
bool grow_until_bad_alloc() {
  try {
    const nlohmann::json job = {{"prompt", std::string(100, 'x')}, {"seed", 0}};
    nlohmann::json jobs = nlohmann::json::array();
    for (;;) jobs.push_back(job);
  } catch (const std::bad_alloc&) {
    return true;
  }
}

}  // namespace

// In a child whose ulimit -v leaves 96 MiB: it ends normally, having caught std::bad_alloc, and the reserve has
// been given back. Without the reserve the destructor's own allocation failed as well and std::terminate ended
// the child (SIGABRT: exit 134 for genplug).
BOOST_AUTO_TEST_CASE(unwinding_after_a_failed_allocation_has_room) {
  if (kSanitized) {
    BOOST_TEST_MESSAGE("skipped under a sanitizer, whose allocator ends the process when the address space runs out");
    return;
  }
  genplug::cli::hold_allocation_reserve();
  BOOST_TEST_REQUIRE(genplug::cli::allocation_reserve_held());
  const int child = genplug::test::under_address_space_limit(uint64_t(96) << 20, [] {
    return grow_until_bad_alloc() && !genplug::cli::allocation_reserve_held();
  });
  BOOST_TEST(child == 0);  // 1: the reserve was not given back; 134 (128 + SIGABRT): terminated in the unwinding
  BOOST_TEST(genplug::cli::allocation_reserve_held());  // the child's failure is not this process's
}
