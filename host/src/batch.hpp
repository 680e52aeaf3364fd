// genplug host — batch jobs: a manifest job that lists several seeds, prompts or settings (a wedge) expands
// into work items, each a plain job with one value of each and its output pattern filled in.
#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace genplug::host {

// The values an output pattern may name: {index} (work item, over the whole manifest), {job} (the job's index
// in the manifest), {seed}, {prompt} (index in the job's prompt list), {wedge} (index of the wedge combination).
using PatternFields = std::map<std::string, uint64_t>;

// Fills "{name}" and "{name:0N}" (zero-padded to N digits) from `fields`; "{{" and "}}" are literal braces.
// Throws HostError(manifest) naming `where` for an unknown field or a malformed placeholder.
std::string fill_output_pattern(const std::string& pattern, const PatternFields& fields, const std::string& where);

// The prompts file a job reads ("prompts": {"file": ...}), relative to `manifest_dir`; none for a list.
std::optional<std::filesystem::path> prompts_file(const nlohmann::json& job, const std::filesystem::path& manifest_dir);

// The work items of manifest job `job` (index `job_index`): every combination of its prompts x seeds x wedge
// values, prompt outermost and the wedge's last key fastest; a job without batch keys gives one item. Items
// are numbered from `first_index`. A prompts file is read relative to `manifest_dir`. Each item is the job
// with "seeds"/"prompts"/"wedge" replaced by one "seed"/"prompt"/wedged value and "output" filled in.
// Throws HostError(manifest) naming `where` (e.g. "jobs[2]") and the key; HostError(cancelled) once `cancel`
// (read every 1024 items; may be null) is set.
std::vector<nlohmann::json> expand_job(const nlohmann::json& job, size_t job_index, size_t first_index,
                                       const std::filesystem::path& manifest_dir, const std::string& where,
                                       const std::atomic<bool>* cancel = nullptr);

// Where each wedged setting of work item `item` of manifest job `job` came from, by key: {"posenc":
// "jobs[2].wedge.posenc[1]"}, so that a message about a wedged value names the wedge (the item itself has the
// value under its plain key). Empty for a job without a wedge. `item` counts the job's items from 0.
std::map<std::string, std::string> wedge_origins(const nlohmann::json& job, size_t item, const std::string& where);

}  // namespace genplug::host
