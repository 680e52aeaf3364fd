#include <genplug/flux/blas_threads.hpp>

#include <mutex>

// Weak: resolved from whichever libblas.so.3 libtorch loaded; null when that library is not OpenBLAS.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));
extern "C" int openblas_get_num_threads() __attribute__((weak));

namespace genplug::flux {

bool set_openblas_threads(int threads) {
  if (openblas_set_num_threads == nullptr) return false;
  openblas_set_num_threads(threads);
  return true;
}

int openblas_threads() { return openblas_get_num_threads != nullptr ? openblas_get_num_threads() : 0; }

namespace {
std::mutex serial_mutex;
int serial_users = 0;
int pool_before = 0;
}  // namespace

SerialBlas::SerialBlas() {
  std::lock_guard<std::mutex> lock(serial_mutex);
  if (serial_users++ == 0) {
    pool_before = openblas_threads();
    if (pool_before > 1) set_openblas_threads(1);
  }
}

SerialBlas::~SerialBlas() {
  std::lock_guard<std::mutex> lock(serial_mutex);
  if (--serial_users == 0 && pool_before > 1) set_openblas_threads(pool_before);
}

}  // namespace genplug::flux
