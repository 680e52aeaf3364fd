// Address space held back for the unwinding that follows a failed allocation.
//
// nlohmann::json's destructor (3.11) allocates a stack for the values it takes apart. When an allocation had just
// failed under a ulimit -v (a large manifest being read, say), the unwinding destroyed the half-built document,
// that allocation failed too inside a destructor, and std::terminate ended the command (SIGABRT, exit 134) instead
// of its "out of memory" (exit 75). Measured: a 15 MB manifest of 60 000 jobs under ulimit -v 100 or 300 MB.
#pragma once
#include <cstddef>

namespace genplug::cli {

// The reserve's size: the destroy stack of a document of a million values (16 bytes each), and room besides.
constexpr std::size_t kAllocationReserveBytes = std::size_t(32) << 20;

// Takes `bytes` of address space (untouched: no resident memory) and installs a new-handler that gives it back at
// the first failed operator new, then fails that allocation as before (std::bad_alloc): the unwinding that
// follows has the reserve to allocate from. Later failures throw at once. Process-wide; call once, first in main.
// Thread: any, before other threads start.
void hold_allocation_reserve(std::size_t bytes = kAllocationReserveBytes);

// Whether the reserve is still held (no operator new has failed since it was taken).
bool allocation_reserve_held();

}  // namespace genplug::cli
