// What the plugin builds against the CPU memory this machine can give it. Linux overcommits: weights too large
// for memory are "allocated" without complaint, and the OOM killer then ends the process (SIGKILL, no message)
// while their pages are written. So random weights are checked before they are drawn, and a failed allocation
// is told apart: a shortage now (the host may retry) or more than the machine holds (no retry helps).
#pragma once
#include <cstddef>
#include <optional>
#include <string>

#include <genplug/flux/flux_config.hpp>
#include <genplug/plugin.hpp>

namespace genplug::flux {

// Throws before random weights of `config`, `element_bytes` each (`dtype` names them), are drawn on the CPU when
// they and what building the model takes besides cannot be held: ConfigError when that is more than the process
// can ever add (beyond_machine), Error(GENPLUG_E_OUT_OF_MEMORY) when more than is available now (free swap
// included). The message names them as of `preset`. Any depth is counted without listing its blocks.
// `quantized_bytes`: what the model's build adds besides (quantized_build_bytes under quantize int8, else 0).
void check_random_weights_fit(const FluxConfig& config, size_t element_bytes, const std::string& dtype,
                              const std::string& preset, double quantized_bytes = 0);

// What building the transformer adds under quantize int8 (FluxTransformer, quantize_rows): a byte per value of
// the matrices it quantizes and, while the largest is quantized, it twice in float32 (taken as float32, divided by
// its row scales). Of a config: every weight counted (the few kept in dtype too).
double quantized_build_bytes(double matrix_values, double largest_matrix);
double quantized_build_bytes(const FluxConfig& config);

// Throws before a checkpoint is loaded on the CPU when what the load copies out of the file (`copied_bytes`, and
// `temporary_bytes` at its peak: LoadBytes in weights.hpp), the int8 weights built from it (`quantized_bytes`) and
// what building the model takes besides cannot be held, as above; nothing when every tensor is a view of the mapped
// file and nothing is quantized. The message names `file` and `dtype`.
void check_checkpoint_copies_fit(double copied_bytes, double temporary_bytes, double quantized_bytes,
                                 const std::string& file, const std::string& dtype);

// What merging LoRAs holds beside the weights (LoraCheck in lora.hpp): a copy of every weight they change as the
// merge stores it (`target_bytes`), and while one is merged, the largest in float32 beside its copy, the largest
// module's factors in float32, and 32 MiB for the finiteness check's row blocks.
double lora_merge_bytes(double target_bytes, double largest_target, double largest_factors);

// Throws as check_checkpoint_copies_fit when merging LoRAs (`where`: "loras", "config.loras") that holds `bytes`
// beside the weights cannot be held. `now` false (a check ahead of the merge): only when that is more than the
// process can ever add, since what is available now says nothing of the merge's time.
void check_lora_merge_fits(double bytes, const std::string& where, bool now);

// Throws as check_checkpoint_copies_fit before a text encoder (`what`: "T5 encoder") is loaded on the CPU from `file`
// as `dtype` when what it will hold and what it needs besides while it loads (TextBeforeLoad) cannot be held. T5-XXL
// is 17.7 GiB in float32, the CPU's default.
void check_text_encoder_fits(const std::string& what, const std::string& file, const std::string& dtype,
                             double held_bytes, double temporary_bytes);

// When `bytes` are more than this process could ever add to what it holds (internal::cpu_memory_ceiling: memory
// and swap within its cgroups, less its own; ulimit -v less what it has mapped), that said: "more than this
// process can ever add (31.0 GiB: memory and swap within its cgroup and ulimit -v, less what it holds)".
std::optional<std::string> beyond_machine(double bytes);

// libtorch's failed CPU allocation as the plugin's error, prefixed by `what`, said without libtorch's internals:
// "could not allocate N bytes (X GiB)" from "... DefaultCPUAllocator: can't allocate memory: you tried to allocate
// N bytes. Error code 12 (...)"; the message itself where it names no size. Out of memory (the host may retry)
// unless the request is more than this machine could ever hold: then the sizes asked for are at fault, and a
// retry fails alike (GENPLUG_E_CONFIG).
Error allocation_error(const std::string& what, const std::string& libtorch_message);

// A file the safetensors or GGUF reader could not map (their OutOfMemory), as the plugin's error, prefixed by
// `what`: out of memory (the host may retry) unless it is larger than the address-space limit (ulimit -v), which no
// retry changes: then, as in allocation_error, the request is at fault (GENPLUG_E_CONFIG).
template <class Unmappable>
Error unmappable_file_error(const std::string& what, const Unmappable& e) {
  return Error(e.beyond_reach() ? GENPLUG_E_CONFIG : GENPLUG_E_OUT_OF_MEMORY, what + e.what());
}

// "44.4 GiB", "36.0 MiB", "4.0 KiB", "12 bytes": a size in the largest binary unit it fills (GiB at most).
std::string byte_size_text(double bytes);

}  // namespace genplug::flux
