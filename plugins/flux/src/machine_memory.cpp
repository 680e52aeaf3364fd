// See machine_memory.hpp.
#include "machine_memory.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include <genplug/flux/presets.hpp>
#include <genplug/internal/cpu_memory.hpp>

namespace genplug::flux {

namespace {

// What building a model takes besides its weights (libtorch's and OpenBLAS's buffers, the VAE and text encoders
// of random weights, the first evaluation's allocator pools): measured at 0.2-0.3 GiB over the weights for
// 1.9 GiB of them; the eighth scales it for larger models.
double build_margin(double weight_bytes) { return 256.0 * (1 << 20) + weight_bytes / 8; }

struct WeightCount {
  double elements = 0, largest = 0;
};

WeightCount count_of(const FluxConfig& config) {
  WeightCount w;
  for (const auto& [name, shape] : flux_weight_shapes(config)) {
    double n = 1;
    for (int64_t d : shape) n *= double(d);
    w.elements += n;
    w.largest = std::max(w.largest, n);
  }
  return w;
}

// The weights of `c` counted from configs of no block and of one block of each kind: they are linear in the
// depths, and listing 10^6 blocks' names had taken gigabytes before anything was checked.
WeightCount count_weights(FluxConfig c) {
  const double doubles = double(c.depth), singles = double(c.depth_single_blocks);
  c.depth = c.depth_single_blocks = 0;
  const WeightCount none = count_of(c);
  c.depth = 1;
  const WeightCount one_double = count_of(c);
  c.depth = 0;
  c.depth_single_blocks = 1;
  const WeightCount one_single = count_of(c);
  WeightCount w;
  w.elements = none.elements + doubles * (one_double.elements - none.elements) +
               singles * (one_single.elements - none.elements);
  w.largest = std::max({none.largest, doubles > 0 ? one_double.largest : 0.0, singles > 0 ? one_single.largest : 0.0});
  return w;
}

std::string count_text(double n) {
  char text[32];
  std::snprintf(text, sizeof text, n < 1e15 ? "%.0f" : "%.4g", n);
  return text;
}

}  // namespace

std::string byte_size_text(double bytes) {
  char text[32];
  const char* units[] = {"KiB", "MiB", "GiB"};
  int unit = -1;
  while (unit < 2 && bytes >= 1024) {
    bytes /= 1024;
    ++unit;
  }
  if (unit < 0)
    std::snprintf(text, sizeof text, "%.0f bytes", bytes);
  else
    std::snprintf(text, sizeof text, "%.1f %s", bytes, units[unit]);
  return text;
}

std::optional<std::string> beyond_machine(double bytes) {
  const std::optional<uint64_t> ceiling = internal::cpu_memory_ceiling();
  if (!ceiling || bytes <= double(*ceiling)) return std::nullopt;
  return "more than this process can ever add (" + byte_size_text(double(*ceiling)) +
         ": memory and swap within its cgroup and ulimit -v, less what it holds)";
}

Error allocation_error(const std::string& what, const std::string& libtorch_message) {
  const std::string tried = "you tried to allocate ";
  const size_t at = libtorch_message.find(tried);
  if (at == std::string::npos) return Error(GENPLUG_E_OUT_OF_MEMORY, what + ": " + libtorch_message);
  const double bytes = std::strtod(libtorch_message.c_str() + at + tried.size(), nullptr);
  char count[32];
  std::snprintf(count, sizeof count, "%.0f", bytes);
  const std::string text = what + ": could not allocate " + count + " bytes (" + byte_size_text(bytes) + ")";
  if (const auto beyond = beyond_machine(bytes)) return Error(GENPLUG_E_CONFIG, text + ", " + *beyond);
  return Error(GENPLUG_E_OUT_OF_MEMORY, text);
}

namespace {

// Throws when `bytes` cannot be held: ConfigError (`what`, why, then `instead`) beyond the machine, out of memory
// beyond what is available now (free swap included).
void check_fits(double bytes, const std::string& what, const std::string& instead) {
  if (const auto beyond = beyond_machine(bytes)) throw ConfigError(what + ", " + *beyond + ". Instead: " + instead);
  const std::optional<uint64_t> available = internal::available_cpu_memory();
  const uint64_t swap = internal::free_swap().value_or(0);
  if (available && bytes > double(*available + swap))
    throw Error(GENPLUG_E_OUT_OF_MEMORY, what + "; " + byte_size_text(double(*available + swap)) +
                                             " of memory (free swap included) is available now");
}

}  // namespace

double quantized_build_bytes(double matrix_values, double largest_matrix) {
  return matrix_values + largest_matrix * 4.0 * 2;
}

double quantized_build_bytes(const FluxConfig& config) {
  const WeightCount w = count_weights(config);
  return quantized_build_bytes(w.elements, w.largest);
}

void check_checkpoint_copies_fit(double copied_bytes, double temporary_bytes, double quantized_bytes,
                                 const std::string& file, const std::string& dtype) {
  const double held = copied_bytes + quantized_bytes;
  if (held + temporary_bytes <= 0) return;  // every tensor a view of the mapped file: the page cache holds them
  const double bytes = held + temporary_bytes + build_margin(held);
  std::string what = "transformer " + file + ": loading it as " + dtype + " copies " + byte_size_text(copied_bytes) +
                     " out of the file";
  if (quantized_bytes > 0) what += " and quantizes its weights to int8 in " + byte_size_text(quantized_bytes);
  std::string instead = "a smaller model";
  if (copied_bytes > 0)
    instead += ", or for a safetensors file of BFL's layout the dtype it stores (its tensors are then mapped, not copied)";
  if (quantized_bytes > 0) instead += ", or quantize \"none\"";
  check_fits(bytes, what + ", " + byte_size_text(bytes) + " with what building the model takes besides", instead);
}

double lora_merge_bytes(double target_bytes, double largest_target, double largest_factors) {
  return target_bytes + (largest_target + largest_factors) * 4.0 + double(32 << 20);
}

void check_lora_merge_fits(double bytes, const std::string& where, bool now) {
  if (bytes <= 0) return;
  const double held = bytes * 1.125;  // the allocator's slack; a merge builds nothing else
  const std::string what = where + ": merging them copies the weights they change, " + byte_size_text(held);
  const std::string instead = "fewer LoRAs, or LoRAs that change fewer weights";
  if (now) return check_fits(held, what, instead);
  if (const auto beyond = beyond_machine(held)) throw ConfigError(what + ", " + *beyond + ". Instead: " + instead);
}

void check_text_encoder_fits(const std::string& what, const std::string& file, const std::string& dtype,
                             double held_bytes, double temporary_bytes) {
  const double bytes = held_bytes + temporary_bytes + held_bytes / 8;  // the allocator's slack; nothing else is built
  std::string instead = "precomputed conditioning (genplug encode, then config.conditioning) on this machine";
  if (dtype == "float32") instead = "text_dtype \"bfloat16\" (half of it), or " + instead;
  check_fits(bytes, what + " " + file + ": loading it as " + dtype + " takes " + byte_size_text(held_bytes) + ", " +
                        byte_size_text(bytes) + " with what loading it takes besides",
             instead);
}

void check_random_weights_fit(const FluxConfig& config, size_t element_bytes, const std::string& dtype,
                              const std::string& preset, double quantized_bytes) {
  // Each tensor is drawn in float32 and scaled (randn(...) * k: two float32 tensors), then converted: at the peak,
  // the largest tensor twice in float32 besides the weights in their dtype (once, where the product is kept).
  const WeightCount w = count_weights(config);
  const double weights = w.elements * double(element_bytes) + w.largest * 4.0 * (element_bytes == 4 ? 1.0 : 2.0) +
                         quantized_bytes;
  const double bytes = weights + build_margin(weights);
  const std::string what = "random weights of preset " + preset + " (" + count_text(w.elements) +
                           " parameters) need " + byte_size_text(weights) + " as " + dtype + ", " +
                           byte_size_text(bytes) + " with what building the model takes besides";
  check_fits(bytes, what,
             std::string("a checkpoint file (memory-mapped where its dtype is kept), ") +
                 (element_bytes == 4 ? "dtype bf16, " : "") + "or a smaller preset or config");
}

}  // namespace genplug::flux
