// Environment defaults for the math libraries the plugins load, set before any plugin is loaded.
#pragma once
#include <string>
#include <vector>

namespace genplug::cli {

// OPENBLAS_THREAD_TIMEOUT, unless the user set it: OpenBLAS's pool threads otherwise spin (sched_yield) for
// 2^28 cycles after every product, holding a core that a model plugin's own kernel threads (attention, GELU,
// weight widening) need between products. OpenBLAS reads it when it is loaded, i.e. when a plugin that links it
// is, so this runs first thing in main. docs/performance.md measures it. Also unsets OMP_NUM_THREADS,
// MKL_NUM_THREADS and OPENBLAS_NUM_THREADS when they hold no thread count, or one above thread_count_limit(cpus)
// (`cpus`: the CPUs this process may run on); returns a warning for each.
std::vector<std::string> set_blas_thread_defaults();
std::vector<std::string> set_blas_thread_defaults(unsigned cpus);

// The largest thread count taken from the environment: 4 per CPU, at least 16.
unsigned thread_count_limit(unsigned cpus);

}  // namespace genplug::cli
