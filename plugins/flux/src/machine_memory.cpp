// See machine_memory.hpp.
#include "machine_memory.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include <genplug/flux/presets.hpp>
#include <genplug/internal/cpu_memory.hpp>

namespace genplug::flux {

std::string gib_text(double bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GiB", bytes / double(uint64_t(1) << 30));
  return text;
}

bool beyond_machine(double bytes) {
  const std::optional<uint64_t> total = internal::total_cpu_memory();
  return total && bytes > double(*total);
}

std::string beyond_machine_text() {
  const std::optional<uint64_t> total = internal::total_cpu_memory();
  return "more than this process can ever hold" +
         (total ? " (" + gib_text(double(*total)) + " of memory and swap, within its cgroup and ulimit -v)" : "");
}

Error allocation_error(const std::string& what, const std::string& libtorch_message) {
  const std::string tried = "you tried to allocate ";
  const size_t at = libtorch_message.find(tried);
  if (at == std::string::npos) return Error(GENPLUG_E_OUT_OF_MEMORY, what + ": " + libtorch_message);
  const double bytes = std::strtod(libtorch_message.c_str() + at + tried.size(), nullptr);
  char text[96];
  std::snprintf(text, sizeof text, "could not allocate %.0f bytes (%.1f GiB)", bytes, bytes / double(1ull << 30));
  if (beyond_machine(bytes))
    return Error(GENPLUG_E_CONFIG, what + ": " + text + ", " + beyond_machine_text());
  return Error(GENPLUG_E_OUT_OF_MEMORY, what + ": " + text);
}

void check_random_weights_fit(const FluxConfig& config, size_t element_bytes, const std::string& dtype,
                              const std::string& preset) {
  // Each tensor is drawn in float32 and scaled (randn(...) * k: two float32 tensors), then converted: at the peak,
  // the largest tensor twice in float32 besides the weights in their dtype (once, where the product is kept).
  double elements = 0, largest = 0;
  for (const auto& [name, shape] : flux_weight_shapes(config)) {
    double n = 1;
    for (int64_t d : shape) n *= double(d);
    elements += n;
    largest = std::max(largest, n);
  }
  const double bytes = elements * double(element_bytes) + largest * 4.0 * (element_bytes == 4 ? 1.0 : 2.0);
  const std::string what = "random weights of preset " + preset + " (" + std::to_string(int64_t(elements)) +
                           " parameters) need " + gib_text(bytes) + " as " + dtype;
  if (beyond_machine(bytes))
    throw ConfigError(what + ", " + beyond_machine_text() +
                      ". Instead: a checkpoint file (memory-mapped where its dtype is kept), " +
                      (element_bytes == 4 ? "dtype bf16, " : "") + "or a smaller preset or config");
  const std::optional<uint64_t> available = internal::available_cpu_memory();
  const uint64_t swap = internal::free_swap().value_or(0);
  if (available && bytes > double(*available + swap))
    throw Error(GENPLUG_E_OUT_OF_MEMORY, what + "; " + gib_text(double(*available + swap)) +
                                             " of memory (free swap included) is available now");
}

}  // namespace genplug::flux
