// The size of OpenBLAS's own thread pool, set while the program runs (OPENBLAS_NUM_THREADS is read only when the
// library loads).
#pragma once

namespace genplug::mini {

// Returns false, changing nothing, when the BLAS libtorch calls is not OpenBLAS.
bool set_openblas_threads(int threads);

// OpenBLAS's pool size, or 0 when the BLAS is not OpenBLAS.
int openblas_threads();

}  // namespace genplug::mini
