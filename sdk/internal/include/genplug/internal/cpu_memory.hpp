// How much CPU memory this process has — shared by the host (a job's working memory against what is available)
// and the bundled FLUX plugin (weights and allocations no state of the machine could hold); not installed.
//
// Limits come from the machine (/proc/meminfo), from this process's cgroup and every cgroup above it (a Slurm
// job step, a systemd scope or a container: /proc/self/cgroup names it, in the v2 hierarchy or v1's memory
// controller; in a cgroup namespace it is the hierarchy's root), and from its address-space limit (ulimit -v).
#pragma once

#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace genplug::internal {

// Where the kernel's files are read from: the real ones, or a test's copies.
struct MemorySources {
  std::string proc = "/proc";             // meminfo, self/cgroup
  std::string cgroup = "/sys/fs/cgroup";  // the cgroup v2 hierarchy; v1's memory controller in memory/
  bool address_space_limit = true;        // cap the total by RLIMIT_AS
};

namespace cpu_memory_detail {

// A cgroup file's number; nullopt for "max" (no limit) or a file that cannot be read.
inline std::optional<uint64_t> number_in(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return std::nullopt;
  try {
    return std::stoull(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The value of a "key N" line of a memory.stat, or of a "Key: N kB" line of /proc/meminfo (scale 1024).
// Line by line: /proc/self/status has lines that hold no number ("Name:\tgenplug").
inline std::optional<uint64_t> keyed_value(const std::string& path, const std::string& wanted, uint64_t scale) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, wanted.size(), wanted) != 0 || line.size() == wanted.size() ||
        (line[wanted.size()] != ' ' && line[wanted.size()] != '\t'))
      continue;
    std::istringstream fields(line.substr(wanted.size()));
    uint64_t value = 0;
    if (fields >> value) return value * scale;
  }
  return std::nullopt;
}

inline std::optional<uint64_t> meminfo_bytes(const MemorySources& s, const std::string& key) {
  return keyed_value(s.proc + "/meminfo", key, 1024);
}

// The folders of the cgroup `relative` (as /proc/self/cgroup names it) and of every cgroup above it, innermost
// first, ending at the hierarchy's root `root`.
inline std::vector<std::string> cgroup_chain(const std::string& root, std::string relative) {
  std::vector<std::string> chain;
  while (!relative.empty() && relative != "/" && relative.find("..") == std::string::npos) {
    chain.push_back(root + relative);
    relative.erase(relative.find_last_of('/'));
  }
  chain.push_back(root);
  return chain;
}

// One cgroup's memory accounting, from either hierarchy. v1's swap limit counts memory and swap together.
struct CgroupLevel {
  std::optional<uint64_t> limit, used;  // memory.max, memory.current (v1: limit_in_bytes, usage_in_bytes)
  uint64_t cache = 0;                   // reclaimable page cache in `used`: inactive_file
  std::optional<uint64_t> swap_limit, swap_used;
  bool swap_with_memory = false;        // v1: memsw.*, memory and swap together
};

// A limit: nullopt for v2's "max" and for v1's "no limit", PAGE_COUNTER_MAX pages (9223372036854771712).
inline std::optional<uint64_t> limit_in(const std::string& path) {
  const auto n = number_in(path);
  return n && *n < (uint64_t(1) << 62) ? n : std::nullopt;
}

// Where one hierarchy keeps a cgroup's memory accounting.
struct CgroupFiles {
  const char *limit, *used, *cache_key, *swap_limit, *swap_used;
  bool swap_with_memory;
};
constexpr CgroupFiles kCgroupV2{"memory.max", "memory.current", "inactive_file", "memory.swap.max",
                                "memory.swap.current", false};
constexpr CgroupFiles kCgroupV1{"memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file",
                                "memory.memsw.limit_in_bytes", "memory.memsw.usage_in_bytes", true};

inline CgroupLevel level_of(const std::string& group, const CgroupFiles& f) {
  CgroupLevel l;
  l.limit = limit_in(group + "/" + f.limit);
  l.used = number_in(group + "/" + f.used);
  l.cache = keyed_value(group + "/memory.stat", f.cache_key, 1).value_or(0);
  l.swap_limit = limit_in(group + "/" + f.swap_limit);
  l.swap_used = number_in(group + "/" + f.swap_used);
  l.swap_with_memory = f.swap_with_memory;
  return l;
}

// This process's cgroups, innermost first: the v2 hierarchy ("0::/path") and v1's memory controller
// ("N:memory:/path", under root/memory), each up to its root. In a cgroup namespace the path is "/".
inline std::vector<CgroupLevel> cgroup_levels(const MemorySources& s) {
  std::vector<CgroupLevel> levels;
  std::ifstream in(s.proc + "/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    const size_t first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = "," + line.substr(first + 1, second - first - 1) + ",", path = line.substr(second + 1);
    if (line.rfind("0::", 0) == 0) {
      for (const std::string& g : cgroup_chain(s.cgroup, path)) levels.push_back(level_of(g, kCgroupV2));
    } else if (controllers.find(",memory,") != std::string::npos) {
      for (const std::string& g : cgroup_chain(s.cgroup + "/memory", path)) levels.push_back(level_of(g, kCgroupV1));
    }
  }
  return levels;
}

// a - b, or 0 where b is larger.
inline uint64_t room(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

// min(a, b) where either may be unknown.
inline std::optional<uint64_t> lower(std::optional<uint64_t> a, std::optional<uint64_t> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

}  // namespace cpu_memory_detail

// Bytes this process can still use on the CPU without swapping: MemAvailable, capped under each cgroup limit by
// the limit less what the cgroup holds (its reclaimable inactive_file cache not counted). nullopt when nothing
// can be read.
inline std::optional<uint64_t> available_cpu_memory(const MemorySources& s = {}) {
  using namespace cpu_memory_detail;
  std::optional<uint64_t> available = meminfo_bytes(s, "MemAvailable:");
  for (const CgroupLevel& l : cgroup_levels(s))
    if (l.limit && l.used) available = lower(available, room(*l.limit, room(*l.used, l.cache)));
  return available;
}

// The memory this process could use if nothing else held any: MemTotal, capped by each cgroup's limit. Swap is not
// counted, as available_cpu_memory does not count it. nullopt when /proc/meminfo cannot be read.
inline std::optional<uint64_t> total_cpu_memory(const MemorySources& s = {}) {
  using namespace cpu_memory_detail;
  std::optional<uint64_t> total = meminfo_bytes(s, "MemTotal:");
  if (!total) return std::nullopt;
  for (const CgroupLevel& l : cgroup_levels(s)) total = lower(total, l.limit);
  return total;
}

// This process's resident memory (VmRSS: anonymous, file-backed and shared pages): what it holds itself, and
// another attempt would hold again. Mapped weights count: a cgroup charges their pages as used.
inline uint64_t own_resident_memory(const MemorySources& s = {}) {
  using namespace cpu_memory_detail;
  return keyed_value(s.proc + "/self/status", "VmRSS:", 1024).value_or(0);
}

// Swap not in use (SwapFree), capped by each cgroup's swap allowance left (v1: memory and swap together left).
inline std::optional<uint64_t> free_swap(const MemorySources& s = {}) {
  using namespace cpu_memory_detail;
  std::optional<uint64_t> free = meminfo_bytes(s, "SwapFree:");
  for (const CgroupLevel& l : cgroup_levels(s))
    if (l.swap_limit) free = lower(free, room(*l.swap_limit, l.swap_used.value_or(0)));
  return free;
}

// The CPUs this process may run on (its affinity mask, of any size); 1 when it cannot be read.
inline uint64_t usable_cpus() {
  for (int n = 1024; n <= (1 << 20); n *= 4) {
    cpu_set_t* set = CPU_ALLOC(n);
    const size_t size = CPU_ALLOC_SIZE(n);
    const int got = ::sched_getaffinity(0, size, set);
    const int count = got == 0 ? CPU_COUNT_S(size, set) : 0;
    CPU_FREE(set);
    if (got == 0) return uint64_t(std::max(count, 1));
    if (errno != EINVAL) break;  // EINVAL: the kernel's mask is larger
  }
  return 1;
}

// A new thread's stack: glibc gives it RLIMIT_STACK's size where that is set and larger than 8 MiB, else 8 MiB.
inline uint64_t thread_stack_bytes() {
  rlimit stack{};
  if (::getrlimit(RLIMIT_STACK, &stack) == 0 && stack.rlim_cur != RLIM_INFINITY && stack.rlim_cur > (8u << 20))
    return stack.rlim_cur;
  return uint64_t(8) << 20;
}

// What the address-space limit (ulimit -v) leaves this process to map: RLIMIT_AS less VmSize. nullopt without one.
inline std::optional<uint64_t> address_space_left(const MemorySources& s = {}) {
  using namespace cpu_memory_detail;
  rlimit address_space{};
  if (!s.address_space_limit || ::getrlimit(RLIMIT_AS, &address_space) != 0 || address_space.rlim_cur == RLIM_INFINITY)
    return std::nullopt;
  return room(address_space.rlim_cur, keyed_value(s.proc + "/self/status", "VmSize:", 1024).value_or(0));
}

// Why a mapping of `bytes` can never succeed in this process: they are more than its address-space limit (ulimit -v)
// itself, which nothing the process frees and no other machine with the same limit changes. nullopt without a limit,
// or within it: a failed mapping then wants room that another attempt may have (what is mapped besides differs with
// the machine's cores and with what was loaded first).
inline std::optional<std::string> beyond_address_space(uint64_t bytes, const MemorySources& s = {}) {
  rlimit limit{};
  if (!s.address_space_limit || ::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY ||
      bytes <= limit.rlim_cur)
    return std::nullopt;
  return "more than the address-space limit (ulimit -v) of " + std::to_string(limit.rlim_cur) + " bytes";
}

// The most this process could still add to what it holds, however much else were freed: memory and swap
// (MemTotal + SwapTotal), capped by each cgroup's limit with its swap allowance, less its own anonymous memory
// (RssAnon); and the address-space limit (ulimit -v) less what it has mapped (VmSize). A request above it fails
// in any state of the machine, so it is no transient shortage. nullopt when /proc/meminfo cannot be read.
inline std::optional<uint64_t> cpu_memory_ceiling(const MemorySources& s = {}) {
  using namespace cpu_memory_detail;
  const auto ram = meminfo_bytes(s, "MemTotal:");
  if (!ram) return std::nullopt;
  const uint64_t swap = meminfo_bytes(s, "SwapTotal:").value_or(0);
  uint64_t total = *ram + swap;
  for (const CgroupLevel& l : cgroup_levels(s)) {
    if (l.swap_with_memory && l.swap_limit) total = std::min(total, *l.swap_limit);
    if (l.limit) total = std::min(total, *l.limit + (l.swap_with_memory ? swap : std::min(l.swap_limit.value_or(swap), swap)));
  }
  const uint64_t ceiling = room(total, keyed_value(s.proc + "/self/status", "RssAnon:", 1024).value_or(0));
  return lower(ceiling, address_space_left(s));
}

}  // namespace genplug::internal
