#include "blas_environment.hpp"

#include <cstdlib>
#include <regex>
#include <string>

namespace genplug::cli {

std::vector<std::string> set_blas_thread_defaults() {
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
    if (std::regex_match(trimmed, count)) continue;
    warnings.push_back(std::string(name) + "='" + value + "' is not a thread count (a whole number >= 1): ignored");
    unsetenv(name);
  }
  return warnings;
}

}  // namespace genplug::cli
