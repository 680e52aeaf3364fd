// Which kernels OpenBLAS runs, and the repair of one wrong choice. No torch here.
//
// OpenBLAS's CPU table gives its Prescott (SSE3) kernels to Intel CPUs it does not know in two cases:
// - before 0.3.25 (Debian 12 ships 0.3.21), family 6 of extended model 11 or more, i.e. model 176 and up (Raptor
//   Lake, Lunar and Arrow Lake, Emerald Rapids, ...): past its table's last case for family 6, the switch falls
//   through into family 15's (fixed upstream by "Fix unwanted fallthrough from Intel Family 6 to 15", 0.3.25);
// - in every version so far, family 15 and up: the Pentium 4's family, which Intel's next families (18, 19) extend,
//   and which virtual machines report (QEMU's kvm64).
// On a 2-core Emerald Rapids Xeon (family 6, model 207) the bench forward took 2.99-3.20 s with those kernels
// against 0.79-0.81 s with its AVX-512 ones (docs/performance.md).
#pragma once

#include <optional>
#include <string>

namespace genplug::flux {

// The vector units OpenBLAS chooses its kernels by, as it tests them: each also usable by the OS (XCR0).
struct CpuVectorUnits {
  bool avx = false;
  bool avx2 = false;
  bool avx512 = false;  // AVX-512 VL with AVX2, OpenBLAS's support_avx512()
};

// What OpenBLAS's CPU table reads: vendor, family and model as the vendors' manuals combine them.
struct CpuIdentity {
  std::string vendor;  // "GenuineIntel"
  unsigned family = 0;
  unsigned model = 0;
  CpuVectorUnits units;
};
CpuIdentity this_cpu();

// The kernels OpenBLAS 0.3.25 and later pick for a CPU their table does not name, by name as OPENBLAS_CORETYPE
// takes it: "SkylakeX", "Haswell", "Sandybridge", or "" where Prescott's are the right ones (no AVX). Later versions
// pick Cooperlake over SkylakeX where the CPU has AVX512-BF16; 0.3.21's name lookup lacks it (its fallback by vector
// units reaches it), and the two share their float32 and float64 kernels.
std::string openblas_fallback_core(const CpuVectorUnits& units);

// The kernels to select instead of `chosen` (what OpenBLAS runs): the fallback's where OpenBLAS chose Prescott for
// an Intel CPU of the cases above and the user did not choose (`user_chose`: OPENBLAS_CORETYPE set); else "".
std::string openblas_repair_core(const CpuIdentity& cpu, const std::string& chosen, bool user_chose);

// The kernels the process's OpenBLAS runs ("Haswell", "Prescott", ...), or "" when libtorch's BLAS is not OpenBLAS.
std::string openblas_core();

struct BlasCoreChange {
  std::string cpu;   // "GenuineIntel family 6 model 207"
  std::string from;  // "Prescott"
  std::string to;    // "SkylakeX"
};

// Selects the kernels of openblas_repair_core() for this process's OpenBLAS, through its own dynamic-arch
// start-up, as OPENBLAS_CORETYPE would have at load, once a process: every call returns that first call's change;
// nothing where none was made: another BLAS, an OpenBLAS built for one CPU, a CPU it named, a choice the user made
// (OPENBLAS_CORETYPE=Prescott keeps those kernels).
// Thread: call while no other thread calls BLAS or reads the environment (products before it ran on the old
// kernels, after it on the new): OpenBLAS has no kernels between its quit and init, and OPENBLAS_CORETYPE is set
// for the switch and unset again.
std::optional<BlasCoreChange> repair_openblas_core();

// Switches OpenBLAS to the kernels `core` names (OPENBLAS_CORETYPE's names; an unknown one gets its fallback) as
// repair_openblas_core() does, whatever it runs now, and returns what it runs after; "" when the BLAS is not a
// dynamic-arch OpenBLAS. For tests. Thread: as repair_openblas_core(), and with no BLAS call running.
std::string select_openblas_core(const std::string& core);

}  // namespace genplug::flux
