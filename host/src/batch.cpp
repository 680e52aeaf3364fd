#include "batch.hpp"

#include <fstream>

#include <genplug/host/errors.hpp>
#include <genplug/internal/regular_file.hpp>

namespace genplug::host {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kMaxItemsPerJob = 1000000;

[[noreturn]] void fail(const std::string& where, const std::string& message) {
  throw HostError(ErrorKind::manifest, where + ": " + message);
}

std::vector<uint64_t> seeds_of(const json& job, const std::string& where) {
  if (!job.contains("seeds")) return {job.value("seed", uint64_t{0})};
  if (job.contains("seed")) fail(where, "give \"seed\" or \"seeds\", not both");
  const json& s = job["seeds"];
  if (s.is_array()) return s.get<std::vector<uint64_t>>();
  const uint64_t from = s["from"].get<uint64_t>(), count = s["count"].get<uint64_t>();
  if (from > UINT64_MAX - (count - 1)) fail(where + ".seeds", "from + count - 1 exceeds the largest seed");
  std::vector<uint64_t> out(count);
  for (uint64_t i = 0; i < count; ++i) out[i] = from + i;
  return out;
}

constexpr uintmax_t kMaxPromptsFileBytes = uintmax_t(64) << 20;
constexpr size_t kMaxPromptBytes = 64 * 1024;

// One prompt a line; blank lines skipped; a trailing CR (Windows line ends) and a leading UTF-8 BOM dropped; a
// UTF-16 file is named as one, as `encode --prompt-file` names it (not blamed on its NUL bytes). Only
// a regular file of at most 64 MiB is read (a FIFO would block, /dev/zero never end).
std::vector<std::string> prompts_from_file(const fs::path& file, const std::string& where) {
  std::error_code ec;
  const fs::file_status status = fs::status(file, ec);
  if (!fs::exists(status)) {  // the reason where there is one: a symlink loop is not "does not exist"
    const bool absent = !ec || ec == std::errc::no_such_file_or_directory;
    fail(where, "cannot read prompts file '" + file.string() + "': " +
                    (absent ? "it " + genplug::internal::missing_file_text(file) : ec.message()));
  }
  if (!fs::is_regular_file(status)) fail(where, "prompts file '" + file.string() + "' is not a regular file");
  if (fs::file_size(file, ec) > kMaxPromptsFileBytes) fail(where, "prompts file '" + file.string() + "' is over 64 MiB");
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(where, "cannot read prompts file '" + file.string() + "'");
  std::vector<std::string> out;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (number == 1 && (line.rfind("\xFF\xFE", 0) == 0 || line.rfind("\xFE\xFF", 0) == 0))
      fail(where, "prompts file '" + file.string() + "' is UTF-16; save it as UTF-8");
    if (number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (line.size() > kMaxPromptBytes)
      fail(where, "'" + file.string() + "' line " + std::to_string(number) + " is over 64 KiB (one prompt a line)");
    if (line.find('\0') != std::string::npos)
      fail(where, "'" + file.string() + "' line " + std::to_string(number) + " contains a NUL byte");
    try {
      (void)json(line).dump();  // throws on invalid UTF-8
    } catch (const json::exception&) {
      fail(where, "'" + file.string() + "' line " + std::to_string(number) + " is not valid UTF-8");
    }
    out.push_back(line);
    if (out.size() > kMaxItemsPerJob) fail(where, "'" + file.string() + "' has more than 1000000 prompts");
  }
  if (out.empty()) fail(where, "prompts file '" + file.string() + "' has no prompt");
  return out;
}

}  // namespace

std::optional<fs::path> prompts_file(const json& job, const fs::path& manifest_dir) {
  if (!job.contains("prompts") || !job["prompts"].is_object()) return std::nullopt;
  const fs::path file = job["prompts"]["file"].get<std::string>();
  return file.is_absolute() ? file : manifest_dir / file;
}

namespace {

std::vector<std::string> prompts_of(const json& job, const fs::path& manifest_dir, const std::string& where) {
  if (!job.contains("prompts")) return {job.value("prompt", std::string())};
  if (job.contains("prompt")) fail(where, "give \"prompt\" or \"prompts\", not both");
  if (const auto file = prompts_file(job, manifest_dir)) return prompts_from_file(*file, where + ".prompts.file");
  return job["prompts"].get<std::vector<std::string>>();
}

// Every combination of the wedge's lists as {key: value} objects, the last key varying fastest.
std::vector<json> wedge_combinations(const json& job, const std::string& where) {
  if (!job.contains("wedge")) return {json::object()};
  const json& wedge = job["wedge"];
  if (wedge.empty()) fail(where + ".wedge", "names no setting to vary");
  std::vector<json> out = {json::object()};
  for (const auto& [key, values] : wedge.items()) {  // nlohmann orders object keys alphabetically
    if (job.contains(key)) fail(where, "\"" + key + "\" is both set and wedged; give one");
    std::vector<json> next;
    for (const json& partial : out)
      for (const json& v : values) {
        json combination = partial;
        combination[key] = v;
        next.push_back(std::move(combination));
      }
    out = std::move(next);
    if (out.size() > kMaxItemsPerJob) fail(where + ".wedge", "more than 1000000 combinations");
  }
  return out;
}

void append_number(std::string& out, uint64_t value, size_t width) {
  const std::string digits = std::to_string(value);
  if (digits.size() < width) out.append(width - digits.size(), '0');
  out += digits;
}

}  // namespace

std::string fill_output_pattern(const std::string& pattern, const PatternFields& fields, const std::string& where) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if ((c == '{' || c == '}') && i + 1 < pattern.size() && pattern[i + 1] == c) {
      out += c;
      ++i;
      continue;
    }
    if (c == '}') fail(where, "unmatched '}' in the pattern \"" + pattern + "\" (write }} for a brace)");
    if (c != '{') {
      out += c;
      continue;
    }
    const size_t close = pattern.find('}', i);
    if (close == std::string::npos) fail(where, "unclosed '{' in the pattern \"" + pattern + "\" (write {{ for a brace)");
    const std::string spec = pattern.substr(i + 1, close - i - 1);
    const size_t colon = spec.find(':');
    const std::string name = spec.substr(0, colon);
    size_t width = 0;
    if (colon != std::string::npos) {
      const std::string format = spec.substr(colon + 1);
      if (format.size() < 2 || format.size() > 3 || format[0] != '0' ||
          format.find_first_not_of("0123456789") != std::string::npos || std::stoul(format) > 20)
        fail(where, "{" + spec + "}: the format must be 0N, zero-padding to N <= 20 digits (e.g. {index:04})");
      width = std::stoul(format);
    }
    const auto field = fields.find(name);
    if (field == fields.end()) {
      std::string known;
      for (const auto& [k, v] : fields) known += (known.empty() ? "" : ", ") + ("{" + k + "}");
      fail(where, "unknown field {" + name + "} in the pattern \"" + pattern + "\" (known: " + known + ")");
    }
    append_number(out, field->second, width);
    i = close;
  }
  return out;
}

std::vector<json> expand_job(const json& job, size_t job_index, size_t first_index, const fs::path& manifest_dir,
                             const std::string& where, const std::atomic<bool>* cancel) {
  const std::vector<std::string> prompts = prompts_of(job, manifest_dir, where);
  const std::vector<uint64_t> seeds = seeds_of(job, where);
  const std::vector<json> wedges = wedge_combinations(job, where);
  if (prompts.size() * seeds.size() > kMaxItemsPerJob ||
      prompts.size() * seeds.size() * wedges.size() > kMaxItemsPerJob)
    fail(where, "expands to more than 1000000 work items");
  const std::string pattern = job["output"].get<std::string>();
  json plain = job;
  for (const char* key : {"seeds", "prompts", "wedge"}) plain.erase(key);
  std::vector<json> items;
  items.reserve(prompts.size() * seeds.size() * wedges.size());
  for (size_t p = 0; p < prompts.size(); ++p)
    for (uint64_t seed : seeds)
      for (size_t w = 0; w < wedges.size(); ++w) {
        if (cancel && items.size() % 1024 == 0 && cancel->load())
          throw HostError(ErrorKind::cancelled, where + " (item " + std::to_string(items.size()) +
                                                    "): cancelled while expanding the manifest");
        json item = plain;
        item["prompt"] = prompts[p];
        item["seed"] = seed;
        for (const auto& [key, value] : wedges[w].items()) item[key] = value;
        const PatternFields fields = {
            {"index", first_index + items.size()}, {"job", job_index}, {"seed", seed}, {"prompt", p}, {"wedge", w}};
        item["output"] = fill_output_pattern(pattern, fields, where + ".output");
        items.push_back(std::move(item));
      }
  return items;
}

std::map<std::string, std::string> wedge_origins(const json& job, size_t item, const std::string& where) {
  std::map<std::string, std::string> origins;
  if (!job.contains("wedge")) return origins;
  const json& wedge = job["wedge"];
  size_t combinations = 1;
  for (const auto& values : wedge) combinations *= values.size();
  // The item's combination, decoded from its last key (the fastest) on, as wedge_combinations() counts them.
  size_t rest = item % combinations;
  for (auto it = wedge.crbegin(); it != wedge.crend(); ++it) {
    const size_t n = it.value().size();
    origins[it.key()] = where + ".wedge." + it.key() + "[" + std::to_string(rest % n) + "]";
    rest /= n;
  }
  return origins;
}

}  // namespace genplug::host
