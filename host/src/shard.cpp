#include <genplug/host/shard.hpp>

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
  const char* count_text = env("SLURM_ARRAY_TASK_COUNT");
  if (!count_text || !*count_text) return std::nullopt;
  auto read = [&](const char* name, const char* fallback) -> uint64_t {
    const char* v = env(name);
    const auto n = number(v && *v ? v : fallback ? fallback : "");
    if (!n) throw HostError(ErrorKind::usage, std::string("a Slurm array task without a usable ") + name + " ('" +
                                                   (v ? v : "") + "'): pass --shard I/N");
    return *n;
  };
  const uint64_t count = read("SLURM_ARRAY_TASK_COUNT", nullptr), id = read("SLURM_ARRAY_TASK_ID", nullptr);
  const uint64_t min = read("SLURM_ARRAY_TASK_MIN", nullptr), step = read("SLURM_ARRAY_TASK_STEP", "1");
  if (count == 0 || step == 0 || id < min || (id - min) % step != 0 || (id - min) / step >= count)
    throw HostError(ErrorKind::usage, "Slurm array task " + std::to_string(id) + " (min " + std::to_string(min) +
                                          ", step " + std::to_string(step) + ", count " + std::to_string(count) +
                                          ") is not one of an evenly stepped array: pass --shard I/N");
  return Shard{(id - min) / step, count};
}

std::vector<Job> select_shard(const std::vector<Job>& items, Shard shard) {
  std::vector<Job> out;
  for (const Job& j : items)
    if (j.index % shard.count == shard.index) out.push_back(j);
  return out;
}

}  // namespace genplug::host
