// genplug encode's output container: float32 tensors in a safetensors file (u64 little-endian header length,
// a JSON header space-padded to a multiple of 8 bytes, row-major data), written to a temporary name and renamed
// into place. The container only — like EXR for images; what the tensors mean is the model plugin's business,
// so the CLI links no model library (the full reader/writer lives in the FLUX plugin).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace genplug::cli {

struct F32Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;  // row-major, numel(shape) of them
};

// Throws std::runtime_error naming `path` (and the tensor) for an empty, reserved or repeated name or a shape
// that does not match the values; host::HostError (output, or retryable for a full disk) when it cannot be
// written, or when a file is there by then and `overwrite` is false. Leaves no temporary file, also when a signal
// ends the process (host::install_exit_signals).
void write_f32_safetensors(const std::filesystem::path& path, const std::vector<F32Tensor>& tensors,
                           const std::map<std::string, std::string>& metadata, bool overwrite);

}  // namespace genplug::cli
