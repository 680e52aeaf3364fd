// genplug host — whether a job's working memory (the model's estimate, genplug_geometry_t) fits before it runs.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <genplug/genplug.h>

namespace genplug::host {

// Bytes this process can still use on the CPU: MemAvailable (/proc/meminfo), capped by the cgroup's memory.max
// less memory.current when one is set. nullopt when neither can be read.
std::optional<uint64_t> available_cpu_memory();

// "12.3 GiB" / "512 MiB" / "1000 bytes".
std::string memory_text(uint64_t bytes);

// A size from the command line: "24G", "512M", "2.5GiB", "1073741824"; "off" is 0 (no check). nullopt when
// the text is not a size of at least one byte (so "0" is refused rather than taken for "off").
std::optional<uint64_t> parse_memory_size(const std::string& text);

// Empty when the job fits (or nothing can be said: no estimate, a device other than the CPU and no explicit
// limit); else why not, with the estimate and the limit. `limit`: nullopt = what is available on the CPU,
// 0 = never refuse.
std::string memory_refusal(const genplug_geometry_t& g, std::optional<uint64_t> limit);

}  // namespace genplug::host
