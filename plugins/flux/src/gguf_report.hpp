// The JSON that org.genplug.flux.inspect returns for a GGUF file (ComfyUI-GGUF, stable-diffusion.cpp): the
// container (version, alignment, metadata strings, tensor count and bytes, types), the FLUX components its names
// hold with their inferred configs (component_report.hpp), a one-line summary and every tensor's name, type,
// shape and bytes. Reads the header only (memory-mapped): no torch.
#pragma once
#include <nlohmann/json.hpp>

#include <genplug/gguf.hpp>

namespace genplug::flux {

// Fields: "format" ("gguf"), "summary", "path", "version", "alignment", "tensor_count", "total_bytes",
// "metadata" {string: string}, "dtypes" {type: {tensors, bytes}}, "components", "notes" [line],
// "tensors" [{name, dtype, shape, bytes}].
nlohmann::json gguf_report(const gguf::File& file);

// True when the names hold a FLUX component.
bool gguf_holds_flux_weights(const gguf::File& file);

}  // namespace genplug::flux
