// OpenBLAS's work buffers, mapped when the model is created rather than at a product in the middle of a job.
//
// OpenBLAS maps a work buffer of 128 MiB for each thread of its pool when the pool starts, and one for each thread
// that calls it while the others hold theirs, at that thread's first product (not for small products, which it
// computes without one), and keeps them. 0.3.21 (Debian 12) retries a mapping that fails for ever
// (OpenMathLib/OpenBLAS#5289; later versions exit instead): under ulimit -v, with genplug's memory check off, the
// first product of a job that had used the address space up spun until SIGKILL (docs/reliability.md).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace genplug::flux {

// The address space OpenBLAS's first product on a thread takes: its work buffer and what comes before it.
uint64_t openblas_first_product_bytes();

// Why `left` bytes of address space cannot take it: "" when they can, or when nothing bounds them (no ulimit -v).
std::string openblas_buffer_refusal(std::optional<uint64_t> left);

// Maps the calling thread's buffer now, once a process, with OpenBLAS as libtorch's BLAS: one product. The pool's
// threads map theirs when it starts. Other threads that call OpenBLAS at once (the blocked attention's, at large
// sizes) map theirs then: mapping them here would take 129 MiB a core before the weights, on every machine,
// whatever the job (8.6 GiB on 64 cores). Returns why not ("" when done, or nothing to do) and then maps nothing.
// Thread: before the process's other BLAS products, as repair_openblas_core(); later calls return at once.
std::string map_openblas_buffers();

}  // namespace genplug::flux
