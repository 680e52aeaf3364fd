// The JSON that org.genplug.flux.inspect returns for a safetensors checkpoint: the container (files, header
// sizes, tensor count and bytes, dtypes, metadata, every tensor's name/dtype/shape/bytes), the FLUX components
// it recognises with their inferred configs, LoRA details, a one-line summary and lines for people ("notes").
// Reads the header only (memory-mapped) plus a LoRA's scalar alphas: no torch.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <genplug/flux/checkpoint_layout.hpp>
#include <genplug/safetensors.hpp>

namespace genplug::flux {

// Fields: "format" ("safetensors"), "summary", "path", "files" [{path, bytes, header_bytes, tensors}],
// "tensor_count", "total_bytes", "metadata" {string: string}, "dtypes" {name: {tensors, bytes}},
// "components" [component_report.hpp], "lora" (only for a LoRA file, lora_report.hpp), "notes" [line],
// "tensors" [{name, dtype, shape, bytes, file (sharded checkpoints only)}].
nlohmann::json checkpoint_report(const safetensors::Checkpoint& checkpoint);

// True when the names hold a FLUX transformer, autoencoder, T5 or CLIP encoder, or LoRA modules (appliable or not).
bool holds_flux_weights(const safetensors::Checkpoint& checkpoint);

// Shared with gguf_report: "1.50 GiB", and the names of a shape map in its order.
std::string human_bytes(uint64_t bytes);
std::vector<std::string> names_of(const ShapeMap& shapes);

}  // namespace genplug::flux
