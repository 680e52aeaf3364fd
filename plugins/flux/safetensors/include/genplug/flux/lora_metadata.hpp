// genplug FLUX — the PEFT config diffusers (0.34 and later) writes into a LoRA file's header instead of .alpha
// tensors: __metadata__["lora_adapter_metadata"] = {"transformer.lora_alpha": a, "transformer.alpha_pattern":
// {...}, ...}. No torch: `genplug inspect` reads it too.
#pragma once
#include <optional>
#include <string>

namespace genplug::safetensors {
class Checkpoint;
}

namespace genplug::flux {

// The alpha the header gives `module` (the module's name in the file): an alpha_pattern entry that names it,
// else lora_alpha; nullopt when the file has no usable PEFT config.
std::optional<double> metadata_alpha(const safetensors::Checkpoint& file, const std::string& module);

// Why the header cannot say alpha ("" when it can, or has no PEFT config): no JSON object, a lora_alpha that is
// no number. Modules without .alpha tensors then take alpha = rank, a strength the file may not mean; said, not
// refused (other tools read the same file so). Prefixed with `source` and ": " (nothing for an empty source).
std::string metadata_note(const safetensors::Checkpoint& file, const std::string& source);

}  // namespace genplug::flux
