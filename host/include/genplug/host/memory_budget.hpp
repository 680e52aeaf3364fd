// genplug host — whether a job's working memory (the model's estimate, genplug_geometry_t) fits before it runs.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <genplug/genplug.h>

namespace genplug::host {

// Bytes this process can still use on the CPU: MemAvailable (/proc/meminfo), capped under the limit of its cgroup
// and of every cgroup above it (v2 or v1's memory controller) by what the cgroup holds, reclaimable cache aside
// (genplug/internal/cpu_memory.hpp). nullopt when nothing can be read.
std::optional<uint64_t> available_cpu_memory();
// MemTotal, capped by the limit of this process's cgroup and of each above it; nullopt when it cannot be read.
std::optional<uint64_t> total_cpu_memory();

// "12.3 GiB" / "512 MiB" / "1000 bytes".
std::string memory_text(uint64_t bytes);

// A number of bytes as the command line gives one: a decimal number (a fraction and an exponent allowed) and an
// optional unit after at most one space, B or K, M, G, T (powers of 1024, the letter in either case, optionally
// followed by i and by B: 4G, 4g, 4GB, 4GiB, 4Gi, 4 G). nullopt for anything else (hex, inf, nan, a sign, another
// unit, a number out of a double's range). Not rounded: "0.5" is half a byte, which each option refuses or not.
// Both `run` and `validate` read theirs so.
std::optional<double> parse_byte_count(const std::string& text);
// 2^64: the byte counts from parse_byte_count that a uint64_t holds are those below it.
constexpr double kTwoTo64 = 18446744073709551616.0;

// `run`'s --memory-limit: a byte count ("24G", "512M", "2.5GiB", "1073741824") or "off", which is 0 (no check).
// nullopt when the text is not a size of at least one byte and under 2^64 (so "0" is refused rather than taken for
// "off").
std::optional<uint64_t> parse_memory_size(const std::string& text);

// Address space that the libraries under a CPU model (OpenBLAS, oneDNN, thread pools) map the first time they run,
// besides a job's working memory: OpenBLAS's 128 MiB buffer, two thread stacks a usable core (8 MiB each, or
// ulimit -s where that is more) for the threads they start, 32 MiB of compiled kernels and primitives. Measured on 2
// cores (the mini model at 128 x 128, 2026-12-05): 160 MiB past the loaded model's mappings; counted 192 MiB there.
// Under a ulimit -v that leaves less, those libraries did not fail cleanly: oneDNN crashed (SIGSEGV) compiling a
// convolution, a thread pool deadlocked starting its threads, and OpenBLAS retried its buffer forever (and exit()
// then waited for it).
uint64_t library_address_space();

// "out of memory", and " (within ulimit -v, N MiB)" under an address-space limit, which is then the likelier cause.
std::string out_of_memory_text();

// Why ulimit -v cannot take `working` bytes and library_address_space() besides ("needs about ... of address
// space ..., and ulimit -v leaves ..."); empty when it can, or when there is no such limit. With `working` 0, before a
// model exists: what its libraries will map.
std::string address_space_refusal(uint64_t working);

// Empty when the job fits (or nothing can be said: no estimate, a device other than the CPU and no explicit
// limit); else why not, with the estimate and the limit. `limit`: nullopt = what is available on the CPU, 0 = never
// refuse. A CPU job is also held, unless `limit` is 0, to the address space ulimit -v leaves for it and
// library_address_space().
std::string memory_refusal(const genplug_geometry_t& g, std::optional<uint64_t> limit);

// The CPU's memory as a check reads it, once: what this process may still use (available_cpu_memory), all it could
// use (total_cpu_memory) and what it holds itself (VmRSS, its mapped weights included).
struct CpuMemoryState {
  std::optional<uint64_t> available, total;
  uint64_t own = 0;
  static CpuMemoryState now();
};

// Whether `bytes`, refused against state.available, may fit on a later try: when it fits in the total less what
// this process holds (a retry holds it again) and a base for the kernel and the system (1/16 of the total, at
// least 512 MiB; 1.1 GiB of 23.5 measured on an idle machine), so that only other processes stand in its way.
bool may_fit_later(uint64_t bytes, const CpuMemoryState& state);

// memory_refusal's answer, and whether a retry may succeed: refused against the memory available now (no explicit
// limit), by a job that may_fit_later. The pipeline reports that as retryable (exit 75), every other refusal as
// exit 3. The state is read only where the check needs it (a CPU model, no explicit limit).
struct MemoryVerdict {
  std::string refusal;   // empty when the job fits
  bool retryable = false;
};
MemoryVerdict memory_verdict(const genplug_geometry_t& g, std::optional<uint64_t> limit);
MemoryVerdict memory_verdict(const genplug_geometry_t& g, std::optional<uint64_t> limit, const CpuMemoryState& state);

// Bytes a plate of `pixels` takes while it is decoded: 8-bit RGB, float planes and their converted and resized
// copies (measured: a 16 384 x 16 384 PNG peaked at 7.3 GB more than a 64 x 64 job, 27 bytes a pixel).
constexpr uint64_t kPlateBytesPerPixel = 28;

// As memory_refusal, for decoding a plate of `pixels` (kPlateBytesPerPixel each) on the CPU: a plate of a few
// hundred kilobytes can claim 268 M pixels. `limit`: nullopt = what is available on the CPU, 0 = never refuse.
std::string plate_memory_refusal(uint64_t pixels, std::optional<uint64_t> limit);
// The same, and whether a retry may succeed (as memory_verdict's).
MemoryVerdict plate_memory_verdict(uint64_t pixels, std::optional<uint64_t> limit);
MemoryVerdict plate_memory_verdict(uint64_t pixels, std::optional<uint64_t> limit, const CpuMemoryState& state);

}  // namespace genplug::host
