// The size of OpenBLAS's own thread pool, set while the program runs (OPENBLAS_NUM_THREADS is read only when the
// library loads). No torch here.
#pragma once

namespace genplug::flux {

// Returns false, changing nothing, when the BLAS libtorch calls is not OpenBLAS.
bool set_openblas_threads(int threads);

// OpenBLAS's pool size, or 0 when the BLAS is not OpenBLAS.
int openblas_threads();

// While one lives, OpenBLAS runs every call on its calling thread: for callers that split work over the
// cores themselves. The pool size in effect before the first is restored when the last ends, whichever
// threads they live on. Process-wide: BLAS calls elsewhere in the process meanwhile run on one core too.
class SerialBlas {
 public:
  SerialBlas();
  ~SerialBlas();
  SerialBlas(const SerialBlas&) = delete;
  SerialBlas& operator=(const SerialBlas&) = delete;
};

}  // namespace genplug::flux
