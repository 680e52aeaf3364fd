// The FLUX plugin's weights and allocations against the machine's memory (plugins/flux/src/machine_memory.hpp):
// a request no machine state could satisfy is the config's fault, one that could is a transient shortage.
#define BOOST_TEST_MODULE machine_memory
#include <boost/test/unit_test.hpp>

#include <string>

#include <genplug/flux/presets.hpp>
#include <genplug/internal/cpu_memory.hpp>

#include "machine_memory.hpp"

using namespace genplug;
using namespace genplug::flux;

namespace {
// libtorch 1.13's DefaultCPUAllocator message (alloc_cpu.cpp), as rethrow_as passes it on.
std::string libtorch_refusal(const std::string& bytes) {
  return "[enforce fail at alloc_cpu.cpp:75] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to "
         "allocate " + bytes + " bytes. Error code 12 (Cannot allocate memory)";
}
}  // namespace

BOOST_AUTO_TEST_CASE(the_machine_holds_at_least_what_is_available) {
  const auto total = internal::total_cpu_memory(), available = internal::available_cpu_memory();
  BOOST_TEST_REQUIRE(total.has_value());  // Linux: /proc/meminfo
  BOOST_TEST_REQUIRE(available.has_value());
  BOOST_TEST(*total >= *available);
  BOOST_TEST(!beyond_machine(double(*total)));
  BOOST_TEST(beyond_machine(double(*total) + 4096.0));
}

BOOST_AUTO_TEST_CASE(an_allocation_beyond_the_machine_is_a_config_error) {
  const Error e = allocation_error("predict", libtorch_refusal("2560000000000000"));  // 2.56 PB
  BOOST_TEST(e.code() == GENPLUG_E_CONFIG);
  const std::string m = e.what();
  BOOST_TEST(m.find("predict: could not allocate 2560000000000000 bytes (2384185.8 GiB), more than this machine's ") ==
                 0u, m);
  BOOST_TEST(m.find(" of memory and swap") != std::string::npos, m);
  BOOST_TEST(m.find("alloc_cpu") == std::string::npos, m);
}

BOOST_AUTO_TEST_CASE(an_allocation_the_machine_could_hold_is_out_of_memory) {
  const Error small = allocation_error("decode", libtorch_refusal("1073741824"));
  BOOST_TEST(small.code() == GENPLUG_E_OUT_OF_MEMORY);
  BOOST_TEST(std::string(small.what()) == "decode: could not allocate 1073741824 bytes (1.0 GiB)");
  // No size named ("not enough memory" where malloc failed): passed on as it is, out of memory.
  const Error unsized = allocation_error("predict", "DefaultCPUAllocator: not enough memory: you tried");
  BOOST_TEST(unsized.code() == GENPLUG_E_OUT_OF_MEMORY);
  BOOST_TEST(std::string(unsized.what()) == "predict: DefaultCPUAllocator: not enough memory: you tried");
}

BOOST_AUTO_TEST_CASE(random_weights_that_fit_are_drawn) {
  BOOST_CHECK_NO_THROW(check_random_weights_fit(flux_preset("tiny"), 4, "f32", "tiny"));
  FluxConfig huge = flux_preset("tiny");
  huge.vec_in_dim = 10'000'000'000'000;  // vector_in alone 2.56 PB
  try {
    check_random_weights_fit(huge, 2, "bf16", "tiny");
    BOOST_FAIL("2.56 PB of weights were let through");
  } catch (const Error& e) {
    BOOST_TEST(e.code() == GENPLUG_E_CONFIG);
    // 6.4e14 weights: 2 bytes each, and the largest (vector_in, 6.4e14 of them) drawn in float32 first.
    BOOST_TEST(std::string(e.what()).find("(640000000") != std::string::npos, e.what());
    BOOST_TEST(std::string(e.what()).find("GiB as bf16, more than this machine's") != std::string::npos, e.what());
  }
}
