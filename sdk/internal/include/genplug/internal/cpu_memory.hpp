// How much CPU memory this process has — shared by the host (a job's working memory against what is available)
// and the bundled FLUX plugin (weights and allocations no state of the machine could hold); not installed.
#pragma once

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>

namespace genplug::internal {

namespace cpu_memory_detail {

// A cgroup v2 limit file's number; nullopt for "max" (no limit) or a file that cannot be read.
inline std::optional<uint64_t> cgroup_number(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return std::nullopt;
  try {
    return std::stoull(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// A "Key: N kB" line of /proc/meminfo in bytes.
inline std::optional<uint64_t> meminfo_bytes(const std::string& wanted) {
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    uint64_t kib = 0;
    meminfo >> kib;
    meminfo.ignore(64, '\n');
    if (key == wanted) return kib * 1024;
  }
  return std::nullopt;
}

}  // namespace cpu_memory_detail

// Bytes this process can still use on the CPU without swapping: MemAvailable, capped by the cgroup's memory.max
// less memory.current when one is set. nullopt when neither can be read.
inline std::optional<uint64_t> available_cpu_memory() {
  using namespace cpu_memory_detail;
  std::optional<uint64_t> available = meminfo_bytes("MemAvailable:");
  const auto max = cgroup_number("/sys/fs/cgroup/memory.max"), used = cgroup_number("/sys/fs/cgroup/memory.current");
  if (max && used) {
    const uint64_t room = *max > *used ? *max - *used : 0;
    available = available ? std::min(*available, room) : room;
  }
  return available;
}

// Swap not in use (SwapFree); nullopt when /proc/meminfo cannot be read.
inline std::optional<uint64_t> free_swap() { return cpu_memory_detail::meminfo_bytes("SwapFree:"); }

// The most this process could ever hold: memory and swap (MemTotal + SwapTotal), capped by the cgroup's
// memory.max plus its swap allowance when a limit is set. A request above it fails however much is freed, so it
// is no transient shortage. nullopt when /proc/meminfo cannot be read.
inline std::optional<uint64_t> total_cpu_memory() {
  using namespace cpu_memory_detail;
  const auto ram = meminfo_bytes("MemTotal:"), swap = meminfo_bytes("SwapTotal:");
  if (!ram) return std::nullopt;
  uint64_t total = *ram + swap.value_or(0);
  if (const auto max = cgroup_number("/sys/fs/cgroup/memory.max")) {
    const uint64_t cgroup_swap = cgroup_number("/sys/fs/cgroup/memory.swap.max").value_or(swap.value_or(0));
    total = std::min(total, *max + std::min(cgroup_swap, swap.value_or(0)));
  }
  return total;
}

}  // namespace genplug::internal
