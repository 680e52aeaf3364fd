// genplug host — sharding a manifest's work items over several processes (farm array tasks).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "manifest.hpp"

namespace genplug::host {

// Shard `index` of `count`: the work items whose index i satisfies i mod count == index. Round robin rather
// than contiguous blocks: consecutive items tend to cost alike (one job's seeds, one wedge's steps), so
// dealing them out spreads every job's cost over all shards and the shards finish together.
struct Shard {
  uint64_t index = 0;
  uint64_t count = 1;
};

// "I/N" with 0 <= I < N. Throws HostError(usage) naming the text otherwise.
Shard parse_shard(const std::string& text);

// The shard of a Slurm array task: I = (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP,
// N = SLURM_ARRAY_TASK_COUNT; std::nullopt outside an array task. Throws HostError(usage) when the variables
// do not describe an evenly stepped array (e.g. --array=1,4,9): pass --shard then. `env` reads a variable.
std::optional<Shard> shard_from_slurm(const std::function<const char*(const char*)>& env);

// The items of `shard`, in order: the others removed from `items` (moved in, nothing copied: a batch may hold a
// million).
std::vector<Job> select_shard(std::vector<Job> items, Shard shard);

}  // namespace genplug::host
