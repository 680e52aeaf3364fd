// Environment defaults for the math libraries the plugins load, set before any plugin is loaded.
#pragma once

namespace genplug::cli {

// OPENBLAS_THREAD_TIMEOUT, unless the user set it: OpenBLAS's pool threads otherwise spin (sched_yield) for
// 2^28 cycles after every product, holding a core that a model plugin's own kernel threads (attention, GELU,
// weight widening) need between products. OpenBLAS reads it when it is loaded, i.e. when a plugin that links it
// is, so this runs first thing in main. docs/performance.md measures it.
void set_blas_thread_defaults();

}  // namespace genplug::cli
