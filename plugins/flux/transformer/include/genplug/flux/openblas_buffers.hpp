// OpenBLAS's work buffers, mapped when the model is created rather than at a product in the middle of a job.
//
// OpenBLAS maps a work buffer of 128 MiB for each thread of its pool when the pool starts, and one for each thread
// that calls it at a time when the others hold theirs, at that thread's first product (not for small products,
// which it computes without one), and keeps them. 0.3.21 (Debian 12) retries a mapping that fails for ever
// (OpenMathLib/OpenBLAS#5289; later versions exit instead): under ulimit -v, with genplug's memory check off, the
// first product of a job that had used the address space up spun until SIGKILL (docs/reliability.md).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace genplug::flux {

// The address space the buffers of `callers` threads calling OpenBLAS at once take, with the stacks of the threads
// started for all but the first.
uint64_t openblas_buffer_bytes(int callers);

// Why `left` bytes of address space cannot take the first caller's buffer: "" when they can, or when nothing bounds
// them (no ulimit -v).
std::string openblas_buffer_refusal(std::optional<uint64_t> left);

// Maps the buffers now, once a process, with OpenBLAS as libtorch's BLAS: a product on the calling thread, then,
// where the address space takes them, one on each of as many threads at once as its pool has (the blocked
// attention's callers). Returns why not ("" when done, or nothing to do) and then maps nothing.
// Thread: before the process's other BLAS products, as repair_openblas_core(); later calls return at once.
std::string map_openblas_buffers();

}  // namespace genplug::flux
