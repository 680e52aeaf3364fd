// The working-memory check (memory_budget.hpp): sizes from the command line, and a job refused before it runs
// when the model's estimate exceeds the limit (the grid test model states one; the pipeline test runs it).
#define BOOST_TEST_MODULE memory_budget
#include <boost/test/unit_test.hpp>

#include <sys/resource.h>

#include <string>

#include <genplug/host/memory_budget.hpp>

#include "address_space_limit.hpp"

using genplug::host::memory_refusal;
using genplug::host::memory_verdict;
using genplug::host::CpuMemoryState;
using genplug::host::may_fit_later;
using genplug::host::MemoryVerdict;
using genplug::host::plate_memory_verdict;
using genplug::host::kPlateBytesPerPixel;
using genplug::host::parse_memory_size;
using genplug::host::plate_memory_refusal;

BOOST_AUTO_TEST_CASE(sizes_from_the_command_line) {
  BOOST_TEST(*parse_memory_size("24G") == uint64_t(24) << 30);
  BOOST_TEST(*parse_memory_size("512M") == uint64_t(512) << 20);
  BOOST_TEST(*parse_memory_size("2.5GiB") == uint64_t(5) << 29);
  BOOST_TEST(*parse_memory_size("1048576") == uint64_t(1) << 20);
  BOOST_TEST(*parse_memory_size("off") == 0u);
  BOOST_TEST(*parse_memory_size("4GB") == uint64_t(4) << 30);
  BOOST_TEST(*parse_memory_size("4g") == uint64_t(4) << 30);
  BOOST_TEST(*parse_memory_size("4 Gi") == uint64_t(4) << 30);
  BOOST_TEST(*parse_memory_size("3KiB") == 3072u);
  BOOST_TEST(*parse_memory_size("7B") == 7u);
  BOOST_TEST(*parse_memory_size("1e3") == 1000u);
  BOOST_TEST(*parse_memory_size("18446744073709549568") == 18446744073709549568u);  // the largest double < 2^64
  // 0 is not a limit ("off" is how to say none); nor is less than a byte, nor 2^64 bytes.
  for (const char* bad : {"lots", "-1G", "1X", "nan", "1e30", "", "0", "0G", "0.5", "18446744073709551616", "16E"})
    BOOST_TEST(!parse_memory_size(bad), bad);
  // Decimal only (strtod would have read hex, inf and signs), in a double's range (1e-400 is not 0), and a space
  // only before a unit.
  for (const char* bad : {"0x10", "0x1p4", "inf", "infinity", "+1G", "-0", " 1G", "1G ", "4 ", "4  G", "1GX", "1 G B",
                          "1e", ".", "1,5G", "1e-400", "1e400"})
    BOOST_TEST(!genplug::host::parse_byte_count(bad), bad);
  BOOST_TEST(*genplug::host::parse_byte_count("0") == 0.0);    // the options decide what 0 and half a byte mean
  BOOST_TEST(*genplug::host::parse_byte_count("0.5") == 0.5);
  BOOST_TEST(genplug::host::memory_text(1000) == "1000 bytes");  // not "1 MiB"
  BOOST_TEST(genplug::host::memory_text(uint64_t(3) << 20) == "3 MiB");
}

BOOST_AUTO_TEST_CASE(a_job_over_the_limit_is_refused_with_both_numbers) {
  genplug_geometry_t g{};
  g.struct_size = sizeof g;
  g.latent_device = {kDLCUDA, 0};
  g.working_memory_bytes = uint64_t(3) << 30;
  BOOST_TEST(memory_refusal(g, uint64_t(4) << 30).empty());
  const std::string why = memory_refusal(g, uint64_t(2) << 30);
  BOOST_TEST(why.find("3.0 GiB") != std::string::npos, why);
  BOOST_TEST(why.find("2.0 GiB") != std::string::npos, why);
  BOOST_TEST(memory_refusal(g, uint64_t(0)).empty());  // off
  BOOST_TEST(memory_refusal(g, std::nullopt).empty());  // a device's memory: only an explicit limit is checked
  g.working_memory_bytes = 0;                           // no estimate: nothing to say
  BOOST_TEST(memory_refusal(g, uint64_t(1)).empty());
  g.working_memory_bytes = uint64_t(1) << 62;           // on the CPU the default limit is what is available
  g.latent_device = {kDLCPU, 0};
  BOOST_TEST(!memory_refusal(g, std::nullopt).empty());
}

// A refusal against the memory available now may succeed on a retry when what other processes hold stands in its
// way: the job fits in the total less this process's own memory and a base for the system (1/16, at least 512 MiB).
// Then retryable (exit 75); beyond that, or beyond an explicit limit, not (exit 3). Small sizes and a given state:
// the machine's own memory and a ulimit -v play no part.
BOOST_AUTO_TEST_CASE(a_refusal_a_retry_may_meet_is_retryable) {
  constexpr uint64_t MiB = uint64_t(1) << 20, GiB = uint64_t(1) << 30;
  genplug_geometry_t g{};
  g.struct_size = sizeof g;
  g.latent_device = {kDLCPU, 0};
  g.working_memory_bytes = 64 * MiB;
  CpuMemoryState state{32 * MiB, 16 * GiB, 1 * GiB};  // available, total, this process's own
  MemoryVerdict v = memory_verdict(g, std::nullopt, state);
  BOOST_TEST(v.retryable);
  BOOST_TEST(v.refusal.find("the memory available is 32 MiB of the 16.0 GiB this process may use; other processes "
                            "hold about 15.0 GiB (retry when they have ended") != std::string::npos,
             v.refusal);
  // 16 GiB less 1 GiB of its own and 1 GiB of base: 14 GiB at most.
  BOOST_TEST(may_fit_later(14 * GiB, state));
  BOOST_TEST(!may_fit_later(14 * GiB + 1, state));
  g.working_memory_bytes = 15 * GiB;
  v = memory_verdict(g, std::nullopt, state);
  BOOST_TEST(!v.retryable);
  BOOST_TEST(v.refusal.find("retry") == std::string::npos, v.refusal);
  // A cgroup whose only tenant is this process: what is missing is its own, and a retry holds it again.
  g.working_memory_bytes = 3 * GiB;
  v = memory_verdict(g, std::nullopt, CpuMemoryState{1 * GiB, 4 * GiB, 3 * GiB});
  BOOST_TEST(!v.refusal.empty());
  BOOST_TEST(!v.retryable);
  BOOST_TEST(!may_fit_later(1, CpuMemoryState{1 * GiB, 256 * MiB, 0}));  // smaller than the base
  BOOST_TEST(!may_fit_later(1, CpuMemoryState{1 * GiB, std::nullopt, 0}));  // the total unknown
  g.working_memory_bytes = 64 * MiB;
  v = memory_verdict(g, 32 * MiB, state);  // the user's limit does not change
  BOOST_TEST(!v.retryable);
  BOOST_TEST(v.refusal.find("the limit given is 32 MiB") != std::string::npos, v.refusal);
  BOOST_TEST(memory_verdict(g, std::nullopt, CpuMemoryState{64 * MiB, 16 * GiB, 0}).refusal.empty());  // fits
  // A plate alike.
  const MemoryVerdict plate = plate_memory_verdict(4096 * 4096, std::nullopt, state);
  BOOST_TEST(plate.retryable);
  BOOST_TEST(plate.refusal.find("decoding it needs about 448 MiB (16777216 pixels), the memory available is 32 MiB")
                 == 0u, plate.refusal);
}

// A plate's decode: a 16 384 x 16 384 PNG of a few hundred kilobytes peaked at 7.3 GB whatever --memory-limit said.
BOOST_AUTO_TEST_CASE(a_plate_over_the_limit_is_refused_with_both_numbers) {
  const uint64_t largest = uint64_t(16384) * 16384;
  const std::string why = plate_memory_refusal(largest, uint64_t(2) << 30);
  BOOST_TEST(why.find("7.0 GiB") != std::string::npos, why);
  BOOST_TEST(why.find("2.0 GiB") != std::string::npos, why);
  BOOST_TEST(why.find("268435456 pixels") != std::string::npos, why);
  BOOST_TEST(plate_memory_refusal(64 * 64, uint64_t(2) << 30).empty());
  BOOST_TEST(plate_memory_refusal(largest, uint64_t(0)).empty());  // off
  BOOST_TEST(plate_memory_refusal(largest, largest * kPlateBytesPerPixel).empty());
  BOOST_TEST(!plate_memory_refusal(largest, largest * kPlateBytesPerPixel - 1).empty());
}

using genplug::test::under_address_space_limit;

// Under a ulimit -v that leaves less than a CPU job's working memory and what the libraries map when they first run
// (library_address_space), the job is refused, naming ulimit -v: oneDNN had crashed, a thread pool deadlocked and
// OpenBLAS spun forever under such limits. With room for both it is not refused for that. An explicit limit (the
// user's --memory-limit) is held to it too; "off" is not.
BOOST_AUTO_TEST_CASE(a_cpu_job_beyond_ulimit_v_is_refused) {
  genplug_geometry_t g{};
  g.struct_size = sizeof g;
  g.latent_device = {kDLCPU, 0};
  g.working_memory_bytes = uint64_t(8) << 20;
  const uint64_t libraries = genplug::host::library_address_space();
  BOOST_TEST(libraries >= (uint64_t(128 + 16 + 32) << 20));  // a core at least
  const uint64_t tight = g.working_memory_bytes + libraries - (uint64_t(16) << 20);
  BOOST_TEST(under_address_space_limit(tight, [&] {
    const std::string why = memory_refusal(g, std::nullopt);
    return why.find("of address space (8 MiB of working memory, the model's estimate, and ") != std::string::npos &&
           why.find("ulimit -v leaves") != std::string::npos;
  }) == 0);
  // "off" lifts it; an explicit size does not (the limit binds whatever size is given).
  BOOST_TEST(under_address_space_limit(tight, [&] {
    return memory_refusal(g, uint64_t(0)).empty() &&
           memory_refusal(g, uint64_t(1) << 40).find("or pass --memory-limit off to override") != std::string::npos;
  }) == 0);
  // Before a model exists (the pipeline asks before it creates one): the libraries' part alone, said so.
  BOOST_TEST(under_address_space_limit(libraries - (uint64_t(16) << 20), [&] {
    const std::string why = genplug::host::address_space_refusal(0);
    return why.rfind("needs about " + genplug::host::memory_text(libraries) + " of address space (" +
                         genplug::host::memory_text(libraries) + " that the libraries under a model map", 0) == 0 &&
           why.find("working memory") == std::string::npos;
  }) == 0);
  BOOST_TEST(under_address_space_limit(libraries + (uint64_t(16) << 20), [&] {
    return genplug::host::address_space_refusal(0).empty() &&
           genplug::host::out_of_memory_text().rfind("out of memory (within ulimit -v, ", 0) == 0;
  }) == 0);
  BOOST_TEST(under_address_space_limit(g.working_memory_bytes + libraries + (uint64_t(64) << 20), [&] {
    return memory_refusal(g, std::nullopt).find("ulimit -v") == std::string::npos;
  }) == 0);
  // The test process itself, under whatever limit it was started with (none, or a CI's ulimit -v).
  rlimit own{};
  BOOST_REQUIRE(getrlimit(RLIMIT_AS, &own) == 0);
  if (own.rlim_cur == RLIM_INFINITY) {
    BOOST_TEST(genplug::host::out_of_memory_text() == "out of memory");
    BOOST_TEST(memory_refusal(g, std::nullopt).find("ulimit -v") == std::string::npos);
  } else {
    BOOST_TEST(genplug::host::out_of_memory_text().rfind("out of memory (within ulimit -v, ", 0) == 0);
  }
}
