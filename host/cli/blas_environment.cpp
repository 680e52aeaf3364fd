#include "blas_environment.hpp"

#include <cstdlib>

namespace genplug::cli {

void set_blas_thread_defaults() {
  // 2^16 cycles (~20 us): the pool stays awake across back-to-back products and sleeps before a plugin's
  // kernels start (every value from 2^4 to 2^20 measured the same; the default 2^28 cost 11-15 % per forward).
  setenv("OPENBLAS_THREAD_TIMEOUT", "16", /*overwrite=*/0);
}

}  // namespace genplug::cli
