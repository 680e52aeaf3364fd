#include "blas_environment.hpp"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

namespace genplug::cli {

unsigned thread_count_limit(unsigned cpus) { return std::max(16u, 4 * std::max(cpus, 1u)); }

namespace {

// The threads a count asks for at most, for a value the pattern below matched: a nested list ("4,2") multiplies,
// as libgomp's nested regions do.
unsigned long long threads_asked(const std::string& list) {
  unsigned long long product = 1;
  std::istringstream in(list);
  for (std::string item; std::getline(in, item, ',');) product = std::min(product * std::stoull(item), 1ull << 40);
  return product;
}

// The CPUs this process may run on (its affinity mask: a container's or taskset's share, not the host's).
unsigned cpus_available() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return static_cast<unsigned>(CPU_COUNT(&set));
  return std::thread::hardware_concurrency();
}

}  // namespace

std::vector<std::string> set_blas_thread_defaults() { return set_blas_thread_defaults(cpus_available()); }

std::vector<std::string> set_blas_thread_defaults(unsigned cpus) {
  // 2^16 cycles (~20 us): the pool stays awake across back-to-back products and sleeps before a plugin's
  // kernels start (every value from 2^4 to 2^20 measured the same; the default 2^28 cost 11-15 % per forward).
  setenv("OPENBLAS_THREAD_TIMEOUT", "16", /*overwrite=*/0);
  // A thread count that is no count (0, "abc") makes libgomp complain and libtorch print a stack trace at the
  // first plugin load; dropped, the libraries choose as when it is unset. libgomp also takes a nested list.
  static const std::regex count("[1-9][0-9]{0,5}(,[1-9][0-9]{0,5})*");
  std::vector<std::string> warnings;
  for (const char* name : {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"}) {
    const char* value = std::getenv(name);
    if (value == nullptr) continue;
    std::string trimmed = value;  // the libraries skip spaces around the number
    trimmed.erase(0, trimmed.find_first_not_of(" \t"));
    trimmed.erase(trimmed.find_last_not_of(" \t") + 1);
    if (!std::regex_match(trimmed, count)) {
      warnings.push_back(std::string(name) + "='" + value + "' is not a thread count (a whole number >= 1): ignored");
      unsetenv(name);
    } else if (threads_asked(trimmed) > thread_count_limit(cpus)) {
      // libgomp starts every thread it is told to: 10 000 took minutes to render a thumbnail, ~96 000 crashed in
      // its first parallel region (SIGSEGV) when the process ran out of threads.
      warnings.push_back(std::string(name) + "='" + value + "' is more threads than this machine can use (" +
                         std::to_string(std::max(cpus, 1u)) + " CPUs; at most " +
                         std::to_string(thread_count_limit(cpus)) + " taken): ignored");
      unsetenv(name);
    }
  }
  return warnings;
}

}  // namespace genplug::cli
