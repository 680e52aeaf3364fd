#include "blas_threads.hpp"

// Weak: resolved from whichever libblas.so.3 libtorch loaded; null when that library is not OpenBLAS.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));
extern "C" int openblas_get_num_threads() __attribute__((weak));

namespace genplug::mini {

bool set_openblas_threads(int threads) {
  if (openblas_set_num_threads == nullptr) return false;
  openblas_set_num_threads(threads);
  return true;
}

int openblas_threads() { return openblas_get_num_threads != nullptr ? openblas_get_num_threads() : 0; }

}  // namespace genplug::mini
