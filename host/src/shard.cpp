#include <genplug/host/shard.hpp>

#include <algorithm>

#include <genplug/host/errors.hpp>

namespace genplug::host {

namespace {

// A whole decimal number, or nothing.
std::optional<uint64_t> number(const std::string& text) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) return {};
  return std::stoull(text);
}

}  // namespace

Shard parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  const auto index = slash == std::string::npos ? std::nullopt : number(text.substr(0, slash));
  const auto count = slash == std::string::npos ? std::nullopt : number(text.substr(slash + 1));
  if (!index || !count || *count == 0 || *index >= *count)
    throw HostError(ErrorKind::usage, "--shard: expected I/N with 0 <= I < N (e.g. 0/4), got '" + text + "'");
  return {*index, *count};
}

std::optional<Shard> shard_from_slurm(const std::function<const char*(const char*)>& env) {
  const char* id_text = env("SLURM_ARRAY_TASK_ID");
  if (!id_text || !*id_text) return std::nullopt;
  auto read = [&](const char* name, const char* fallback) -> uint64_t {
    const char* v = env(name);
    const auto n = number(v && *v ? v : fallback ? fallback : "");
    if (!n) throw HostError(ErrorKind::usage, std::string("a Slurm array task without a usable ") + name + " ('" +
                                                   (v ? v : "") + "'): pass --shard I/N");
    return *n;
  };
  const uint64_t id = read("SLURM_ARRAY_TASK_ID", nullptr), min = read("SLURM_ARRAY_TASK_MIN", nullptr);
  const uint64_t step = read("SLURM_ARRAY_TASK_STEP", "1");
  // COUNT, or (older Slurm) the count MIN..MAX by STEP; where both are set they must agree.
  const char* count_text = env("SLURM_ARRAY_TASK_COUNT");
  const char* max_text = env("SLURM_ARRAY_TASK_MAX");
  const bool has_count = count_text && *count_text, has_max = max_text && *max_text;
  if (!has_count && !has_max) throw HostError(ErrorKind::usage, "a Slurm array task without SLURM_ARRAY_TASK_COUNT or _MAX: pass --shard I/N");
  const uint64_t max = has_max ? read("SLURM_ARRAY_TASK_MAX", nullptr) : 0;
  if (has_max && (max < min || step == 0))
    throw HostError(ErrorKind::usage, "Slurm array bounds " + std::to_string(min) + ".." + std::to_string(max) +
                                          " are not a range: pass --shard I/N");
  const uint64_t count = has_count ? read("SLURM_ARRAY_TASK_COUNT", nullptr) : (max - min) / step + 1;
  if (has_count && has_max && count != (max - min) / step + 1)
    throw HostError(ErrorKind::usage, "Slurm array of " + std::to_string(count) + " tasks from " + std::to_string(min) +
                                          " to " + std::to_string(max) + " by " + std::to_string(step) +
                                          " is not evenly stepped (e.g. --array=1,4,9): pass --shard I/N");
  if (count == 0 || step == 0 || id < min || (id - min) % step != 0 || (id - min) / step >= count)
    throw HostError(ErrorKind::usage, "Slurm array task " + std::to_string(id) + " (min " + std::to_string(min) +
                                          ", step " + std::to_string(step) + ", count " + std::to_string(count) +
                                          ") is not one of an evenly stepped array: pass --shard I/N");
  return Shard{(id - min) / step, count};
}

std::vector<Job> select_shard(std::vector<Job> items, Shard shard) {
  items.erase(std::remove_if(items.begin(), items.end(),
                             [&](const Job& j) { return j.index % shard.count != shard.index; }),
              items.end());
  return items;
}

}  // namespace genplug::host
